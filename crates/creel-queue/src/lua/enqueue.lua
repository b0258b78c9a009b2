-- Enqueue a batch of jobs (the caller sends at most a few hundred per call).
-- ARGV: prefix, queue, idempotency_ttl_secs (0 = keep), then 11 values per job:
--   id, idempotency slot ('' = none; the key in its owner's namespace), run_at_ms (0 = now),
--   kind, account, payload, traceparent, created_by, webhook, idempotency_key (as the caller
--   gave it), tracestate
-- Returns a flat array: id, created (1) or existing (0), per job.
local ttl = tonumber(ARGV[3])
local now = now_ms()
local now_t = ms_text(now)
local out = {}
local woke = false
local i = 4
while i + 10 <= #ARGV do
  local id, idem, run_at = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  local existing = nil
  if idem ~= '' then
    local prev = redis.call('GET', P .. ':idem:' .. idem)
    if prev and redis.call('EXISTS', jkey(prev)) == 1 then existing = prev end
  end
  if not existing and redis.call('EXISTS', jkey(id)) == 1 then existing = id end
  if existing then
    out[#out + 1] = existing
    out[#out + 1] = 0
  else
    redis.call('HSET', jkey(id),
      'id', id, 'queue', Q, 'kind', ARGV[i + 3], 'account', ARGV[i + 4],
      'payload', ARGV[i + 5], 'traceparent', ARGV[i + 6], 'created_by', ARGV[i + 7], 'webhook', ARGV[i + 8],
      'idempotency_key', ARGV[i + 9], 'tracestate', ARGV[i + 10], 'idem', idem, 'attempts', '0', 'runs', '1', 'step', '',
      'created_at', now_t, 'run_at', (run_at > now) and ARGV[i + 2] or now_t)
    if idem ~= '' then
      if ttl > 0 then
        redis.call('SET', P .. ':idem:' .. idem, id, 'EX', ttl)
      else
        redis.call('SET', P .. ':idem:' .. idem, id)
      end
    end
    if run_at > now then
      redis.call('ZADD', qkey('scheduled'), ARGV[i + 2], id)
      set_state(id, nil, 'scheduled', now_t)
    else
      redis.call('LPUSH', qkey('ready'), id)
      set_state(id, nil, 'ready', now_t)
      woke = true
    end
    out[#out + 1] = id
    out[#out + 1] = 1
  end
  i = i + 11
end
redis.call('SADD', P .. ':queues', Q)
if woke then wake() end
return out
