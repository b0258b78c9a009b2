-- Deliver a signal: keep its payload for later listeners, and wake every job listening on the
-- key. A scheduled listener becomes due now; a running one is flagged, so the step it is in,
-- if it hands over to a later step, hands over to one due now (finish.lua reads the flag).
-- ARGV: prefix, '', key, payload, ttl_ms
-- Returns the number of jobs woken.
local key, payload, ttl = ARGV[3], ARGV[4], tonumber(ARGV[5])
redis.call('SET', P .. ':signal:' .. key, payload, 'PX', ttl)
local listeners = P .. ':listeners:' .. key
local woken = 0
local now = now_ms()
for _, id in ipairs(redis.call('SMEMBERS', listeners)) do
  local st = redis.call('HMGET', jkey(id), 'state', 'queue')
  if st[1] == 'scheduled' then
    Q = st[2]
    redis.call('ZADD', qkey('scheduled'), now, id)
    redis.call('HSET', jkey(id), 'run_at', now)
    wake()
    woken = woken + 1
  elseif st[1] == 'running' then
    redis.call('HSET', jkey(id), 'wake_requested', 1)
    woken = woken + 1
  elseif st[1] == 'ready' then
    woken = woken + 1
  elseif not st[1] or st[1] == 'succeeded' or st[1] == 'failed' or st[1] == 'cancelled' then
    redis.call('SREM', listeners, id)
  end
end
return woken
