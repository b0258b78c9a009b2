-- Reserve the next slot of one or more GCRA quotas (an account's, and an endpoint's
-- sub-quota) on Redis TIME, burst 1: a call may go at its slot, and the slot after it is one
-- emission interval later. One round trip per permit.
--
-- KEYS[i]      the quota's TAT (theoretical arrival time, microseconds since the epoch)
-- ARGV[1]      horizon: the longest wait worth reserving, microseconds
-- ARGV[2i]     emission interval of KEYS[i], microseconds ((window + margin) / limit)
-- ARGV[2i+1]   cold start of KEYS[i], microseconds: a missing TAT means Redis does not know
--              what was sent in the last window (first use, or data lost), so the first
--              slot is one window away
-- Returns {granted (1/0), wait_us, cold (1/0)}. Not granted: nothing reserved (the wait exceeds
-- the horizon); the caller reschedules instead of holding a worker. cold: a quota had no TAT
-- (the wait is the cold start's).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local horizon = tonumber(ARGV[1])
local slot = now
local tats = {}
local cold = {}
for i, key in ipairs(KEYS) do
  local tat = redis.call('GET', key)
  if tat then
    tats[i] = tonumber(tat)
  else
    tats[i] = now + tonumber(ARGV[2 * i + 1])
    cold[i] = true
  end
  if tats[i] > slot then slot = tats[i] end
end
local wait = slot - now
local any_cold = 0
if next(cold) then any_cold = 1 end
if wait > horizon then
  for i, key in ipairs(KEYS) do
    if cold[i] then redis.call('SET', key, tats[i]) end
  end
  return {0, wait, any_cold}
end
for i, key in ipairs(KEYS) do
  redis.call('SET', key, slot + tonumber(ARGV[2 * i]))
end
return {1, wait, any_cold}
