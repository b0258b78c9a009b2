-- Extend the leases this worker still holds. ARGV: lease_ms, then id, token pairs.
-- Returns the ids whose lease is no longer ours (reaped, cancelled or finished elsewhere).
local lease_ms = tonumber(ARGV[1])
local now = now_ms()
local lost = {}
local i = 2
while i + 1 <= #ARGV do
  local id, token = ARGV[i], ARGV[i + 1]
  -- A token is ours while the job runs under it (finish.lua leaves the last one in the record).
  local st = redis.call('HMGET', jkey(id), 'state', 'lease_token')
  if st[1] == 'running' and st[2] == token then
    redis.call('ZADD', qkey('leases'), 'XX', now + lease_ms, id)
  else
    lost[#lost + 1] = id
  end
  i = i + 2
end
return lost
