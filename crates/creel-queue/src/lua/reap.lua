-- Return jobs whose lease expired (their worker died or stalled) to the front of the ready
-- list, a bounded chunk per call. Any worker runs this; no worker's heartbeat is needed.
-- ARGV: chunk. Returns the reclaimed ids.
local chunk = tonumber(ARGV[1])
local now = now_ms()
local expired = redis.call('ZRANGEBYSCORE', qkey('leases'), '-inf', now, 'LIMIT', 0, chunk)
local out = {}
for _, id in ipairs(expired) do
  redis.call('ZREM', qkey('leases'), id)
  if redis.call('HGET', jkey(id), 'state') == 'running' then
    redis.call('HDEL', jkey(id), 'lease_token')
    -- A lost lease is not a failed attempt: it is counted apart (max_lease_losses) and the
    -- attempt the fetch counted is given back.
    redis.call('HINCRBY', jkey(id), 'lease_losses', 1)
    redis.call('HINCRBY', jkey(id), 'attempts', -1)
    redis.call('RPUSH', qkey('ready'), id)
    set_state(id, 'running', 'ready', now)
    out[#out + 1] = id
  end
end
if #out > 0 then wake() end
return out
