-- Register a job as listening on one signal key, and return the payload of a signal already
-- delivered on it (a signal that came before the job listened is not lost). KEYS[1] is the
-- signal key's base (`<prefix>:sig:{<key>}`, see signal.lua). ARGV: id, ttl_ms.
-- Returns the payload, or '' if none was delivered.
local id, ttl = ARGV[1], tonumber(ARGV[2])
local listeners = B .. ':listeners'
redis.call('SADD', listeners, id)
redis.call('PEXPIRE', listeners, ttl)
return redis.call('GET', B .. ':payload') or ''
