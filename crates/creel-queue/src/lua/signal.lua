-- Deliver a signal: keep its payload for later listeners, and return the jobs listening on the
-- key, for the caller to wake in their own queues. KEYS[1] is the signal key's base
-- (`<prefix>:sig:{<key>}`): the payload and the listeners share its slot, so a listener
-- registers either before this (and is returned) or after it (and reads the payload).
-- ARGV: payload, ttl_ms. Returns the listening job ids.
redis.call('SET', B .. ':payload', ARGV[1], 'PX', tonumber(ARGV[2]))
return redis.call('SMEMBERS', B .. ':listeners')
