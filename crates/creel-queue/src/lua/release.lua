-- Give back leases whose step never started (graceful shutdown): the attempt is refunded and
-- the job goes to the front of the ready list. ARGV: id, token pairs.
local now = now_ms()
local n = 0
local i = 1
while i + 1 <= #ARGV do
  local id, token = ARGV[i], ARGV[i + 1]
  local st = redis.call('HMGET', jkey(id), 'state', 'lease_token')
  if st[1] == 'running' and st[2] == token then
    redis.call('ZREM', qkey('leases'), id)
    redis.call('HDEL', jkey(id), 'lease_token')
    redis.call('HINCRBY', jkey(id), 'attempts', -1)
    redis.call('RPUSH', qkey('ready'), id)
    set_state(id, 'running', 'ready', now)
    n = n + 1
  end
  i = i + 2
end
if n > 0 then wake() end
return n
