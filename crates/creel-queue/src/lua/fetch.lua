-- Promote due scheduled jobs (a bounded chunk), then lease up to `max` ready jobs.
-- ARGV: max, lease_ms, worker_id, token_prefix, promote_chunk
-- Returns: { wait_ms, then 14 values per leased job:
--   id, token, attempts, kind, account, payload, step, traceparent, runs, checkpoint, created_by,
--   lease_losses, tracestate, run_at (ms: when it became due) }
-- wait_ms: -2 paused, -1 nothing scheduled, else ms until the next scheduled job is due
-- (0 when more due jobs remain to promote).
local max, lease_ms = tonumber(ARGV[1]), tonumber(ARGV[2])
local worker, token_prefix, chunk = ARGV[3], ARGV[4], tonumber(ARGV[5])
if redis.call('EXISTS', qkey('paused')) == 1 then return { -2 } end
local now = now_ms()
local now_t, lease_until_t = ms_text(now), ms_text(now + lease_ms)

local due = redis.call('ZRANGEBYSCORE', qkey('scheduled'), '-inf', now, 'LIMIT', 0, chunk)
for _, id in ipairs(due) do
  redis.call('ZREM', qkey('scheduled'), id)
  if redis.call('HGET', jkey(id), 'state') == 'scheduled' then
    redis.call('LPUSH', qkey('ready'), id)
    set_state(id, 'scheduled', 'ready', now_t)
  end
end

local out = { 0 }
local leased, popped = 0, 0
while leased < max and popped < max * 4 do
  local id = redis.call('RPOP', qkey('ready'))
  if not id then break end
  popped = popped + 1
  -- ids whose record is gone or no longer ready (cancelled while queued) are dropped here
  if redis.call('HGET', jkey(id), 'state') == 'ready' then
    leased = leased + 1
    local token = token_prefix .. ':' .. leased
    local attempts = redis.call('HINCRBY', jkey(id), 'attempts', '1')
    redis.call('HSET', jkey(id), 'lease_token', token, 'worker', worker, 'started_at', now_t)
    -- A signal before this step started is seen by the step itself (it reads the payloads).
    redis.call('HDEL', jkey(id), 'wake_requested')
    set_state(id, 'ready', 'running', now_t)
    redis.call('ZADD', qkey('leases'), lease_until_t, id)
    local f = redis.call('HMGET', jkey(id), 'kind', 'account', 'payload', 'step', 'traceparent', 'runs', 'checkpoint', 'created_by', 'lease_losses', 'tracestate', 'run_at')
    out[#out + 1] = id
    out[#out + 1] = token
    out[#out + 1] = attempts
    for _, v in ipairs(f) do out[#out + 1] = v or '' end
  end
end

if #due == chunk then
  out[1] = 0
else
  local nxt = redis.call('ZRANGE', qkey('scheduled'), 0, 0, 'WITHSCORES')
  if nxt[2] then out[1] = math.max(0, tonumber(nxt[2]) - now) else out[1] = -1 end
end
return out
