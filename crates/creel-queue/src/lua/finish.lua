-- Record the outcome of a step run under a lease. Only the current lease holder may finish a
-- job, and a job finishes at most once per run, so exactly one terminal event is appended.
-- ARGV: prefix, queue, id, token, outcome, delay_ms, text, event_json, cancel_event_json,
--       attempts_delta, step, events_max_len
-- outcome: succeeded | failed | retry | continue. `text` is the result JSON (succeeded), the
-- error (failed, retry) or ''. A pending cancellation turns retry/continue into cancelled.
-- Returns { 1, new_state } or { 0, current_state } when the lease is no longer ours.
local id, token, outcome = ARGV[3], ARGV[4], ARGV[5]
local delay, text = tonumber(ARGV[6]), ARGV[7]
local event_json, cancel_event_json = ARGV[8], ARGV[9]
local attempts_delta, step, max_len = tonumber(ARGV[10]), ARGV[11], ARGV[12]
local st = redis.call('HMGET', jkey(id), 'state', 'lease_token', 'cancel_requested')
if st[1] ~= 'running' or st[2] ~= token then return { 0, st[1] or 'missing' } end
local now = now_ms()
redis.call('ZREM', qkey('leases'), id)
redis.call('HDEL', jkey(id), 'lease_token')
if (outcome == 'retry' or outcome == 'continue') and st[3] == '1' then
  outcome = 'cancelled'
  event_json = cancel_event_json
  text = 'cancelled at a step boundary'
end
if outcome == 'succeeded' then
  redis.call('HSET', jkey(id), 'result', text, 'finished_at', now)
elseif outcome == 'failed' or outcome == 'cancelled' then
  redis.call('HSET', jkey(id), 'last_error', text, 'finished_at', now)
end
if outcome == 'retry' or outcome == 'continue' then
  if attempts_delta ~= 0 then redis.call('HINCRBY', jkey(id), 'attempts', attempts_delta) end
  if outcome == 'retry' then
    redis.call('HSET', jkey(id), 'last_error', text)
  else
    redis.call('HSET', jkey(id), 'step', step, 'attempts', 0)
  end
  redis.call('HSET', jkey(id), 'run_at', now + delay)
  redis.call('ZADD', qkey('scheduled'), now + delay, id)
  set_state(id, 'running', 'scheduled', now)
  if delay == 0 then wake() end
  return { 1, 'scheduled' }
end
set_state(id, 'running', outcome, now)
emit(event_json, max_len)
return { 1, outcome }
