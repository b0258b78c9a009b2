-- Register a job as listening on keys, and return the payloads of signals already delivered on
-- them (a signal that came before the job listened is not lost).
-- ARGV: prefix, '', id, ttl_ms, key1, key2, ...
-- Returns one entry per key: its payload, or '' if none was delivered.
local id, ttl = ARGV[3], tonumber(ARGV[4])
local out = {}
for i = 5, #ARGV do
  local listeners = P .. ':listeners:' .. ARGV[i]
  redis.call('SADD', listeners, id)
  redis.call('PEXPIRE', listeners, ttl)
  out[#out + 1] = redis.call('GET', P .. ':signal:' .. ARGV[i]) or ''
end
return out
