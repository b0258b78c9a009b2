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
  local st = wake_job(id, now)
  if st == 'scheduled' or st == 'running' or st == 'ready' then
    woken = woken + 1
  else
    -- gone or finished: no longer listening
    redis.call('SREM', listeners, id)
  end
end
return woken
