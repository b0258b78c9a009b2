-- Cancel a job. Not running: cancelled now, with its terminal event (a queued id left in the
-- ready list is dropped by the next fetch). Running: flagged; it stops at its next step boundary.
-- ARGV: prefix, '' (queue, read from the job), id, event_json, events_max_len
-- Returns { outcome, state }: outcome is cancelled | requested | finished | missing.
local id, event_json, max_len = ARGV[3], ARGV[4], ARGV[5]
local st = redis.call('HGET', jkey(id), 'state')
if not st then return { 'missing', '' } end
Q = redis.call('HGET', jkey(id), 'queue')
if st == 'running' then
  redis.call('HSET', jkey(id), 'cancel_requested', 1)
  return { 'requested', st }
end
if st == 'scheduled' or st == 'ready' then
  local now = now_ms()
  redis.call('ZREM', qkey('scheduled'), id)
  redis.call('HSET', jkey(id), 'last_error', 'cancelled', 'finished_at', now)
  set_state(id, st, 'cancelled', now)
  emit(event_json, max_len)
  wake_parent(redis.call('HGET', jkey(id), 'parent'), now)
  return { 'cancelled', 'cancelled' }
end
return { 'finished', st }
