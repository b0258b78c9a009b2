-- The vendor answered "rate limited": move the quota's TAT to at least now + pause, so every
-- replica backs off, and count the answer (it should stay at zero).
--
-- KEYS[1]  the quota's TAT (microseconds)
-- KEYS[2]  the count of vendor rate-limit answers
-- ARGV[1]  pause, microseconds
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local until_us = now + tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < until_us then redis.call('SET', KEYS[1], until_us) end
return redis.call('INCR', KEYS[2])
