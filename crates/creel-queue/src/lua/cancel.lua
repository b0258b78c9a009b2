-- Cancel a job. Not running: cancelled now, with its terminal event; a ready job leaves the
-- ready list (the index of 'ready': counts read its length). Running: flagged; it stops at its
-- next step boundary.
-- ARGV: id, event_json, events_max_len
-- Returns { outcome, state, woke }: outcome is cancelled | requested | finished | missing;
-- woke is 1 when the job's parent went into the wake-up outbox (the caller drains it).
local id, event_json, max_len = ARGV[1], ARGV[2], ARGV[3]
local st = redis.call('HMGET', jkey(id), 'state', 'parent')
if not st[1] then return { 'missing', '', 0 } end
if st[1] == 'running' then
  redis.call('HSET', jkey(id), 'cancel_requested', 1)
  return { 'requested', st[1], 0 }
end
if st[1] == 'scheduled' or st[1] == 'ready' or st[1] == 'waiting_budget' then
  local now = now_ms()
  redis.call('ZREM', qkey('scheduled'), id)
  -- From the head (the newest end): a job cancelled soon after it was enqueued is found first.
  if st[1] == 'ready' then redis.call('LREM', qkey('ready'), 1, id) end
  redis.call('HSET', jkey(id), 'last_error', 'cancelled', 'finished_at', now)
  set_state(id, st[1], 'cancelled', now)
  emit(event_json, max_len)
  wake_parent_later(st[2], now)
  return { 'cancelled', 'cancelled', (st[2] and st[2] ~= '') and 1 or 0 }
end
return { 'finished', st[1], 0 }
