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
-- The leased ids and their index entries, written together after the loop (see bulk).
local ids, running, leases = {}, {}, {}
while leased < max and popped < max * 4 do
  local batch = redis.call('RPOP', qkey('ready'), max - leased)
  if not batch then break end
  for _, id in ipairs(batch) do
    popped = popped + 1
    local k = jkey(id)
    -- One read for the check and everything the worker needs: ids whose record is gone or
    -- no longer ready (cancelled while queued) are dropped here.
    local f = redis.call('HMGET', k, 'state', 'attempts', 'wake_requested', 'kind', 'account', 'payload',
      'step', 'traceparent', 'runs', 'checkpoint', 'created_by', 'lease_losses', 'tracestate', 'run_at')
    if f[1] == 'ready' then
      leased = leased + 1
      local token = token_prefix .. ':' .. leased
      local attempts = ms_text((tonumber(f[2]) or 0) + 1)
      redis.call('HSET', k, 'attempts', attempts, 'lease_token', token, 'worker', worker,
        'started_at', now_t, 'state', 'running', 'updated_at', now_t)
      -- A signal before this step started is seen by the step itself (it reads the payloads).
      if f[3] then redis.call('HDEL', k, 'wake_requested') end
      ids[#ids + 1] = id
      scored(running, now_t, id)
      scored(leases, lease_until_t, id)
      out[#out + 1] = id
      out[#out + 1] = token
      out[#out + 1] = attempts
      for j = 4, #f do out[#out + 1] = f[j] or '' end
    end
  end
end
bulk('ZREM', qkey('state:ready'), ids)
bulk('ZADD', qkey('state:running'), running)
bulk('ZADD', qkey('leases'), leases)

if #due == chunk then
  out[1] = 0
else
  local nxt = redis.call('ZRANGE', qkey('scheduled'), 0, 0, 'WITHSCORES')
  if nxt[2] then out[1] = math.max(0, tonumber(nxt[2]) - now) else out[1] = -1 end
end
return out
