-- Enqueue a batch of jobs into one queue (the caller sends at most a few hundred per call).
-- The caller has already written each job's id into the job-id index and claimed its
-- idempotency slot (keys of other slots); a job whose id already has a record is not written
-- again, so a repeated call (a retry, or a second request for a claimed slot) creates nothing.
-- ARGV: queue, then 11 values per job:
--   id, idempotency slot ('' = none; kept so retention can release it), run_at_ms (0 = now),
--   kind, account, payload, traceparent, created_by, webhook, idempotency_key (as the caller
--   gave it), tracestate
-- Returns a flat array: id, created (1) or existing (0), per job.
local Q = ARGV[1]
local now = now_ms()
local now_t = ms_text(now)
local out = {}
local woke = false
local i = 2
while i + 10 <= #ARGV do
  local id, idem, run_at = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  if redis.call('EXISTS', jkey(id)) == 1 then
    out[#out + 1] = id
    out[#out + 1] = 0
  else
    redis.call('HSET', jkey(id),
      'id', id, 'queue', Q, 'kind', ARGV[i + 3], 'account', ARGV[i + 4],
      'payload', ARGV[i + 5], 'traceparent', ARGV[i + 6], 'created_by', ARGV[i + 7], 'webhook', ARGV[i + 8],
      'idempotency_key', ARGV[i + 9], 'tracestate', ARGV[i + 10], 'idem', idem, 'attempts', '0', 'runs', '1', 'step', '',
      'created_at', now_t, 'run_at', (run_at > now) and ARGV[i + 2] or now_t)
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
if woke then wake() end
return out
