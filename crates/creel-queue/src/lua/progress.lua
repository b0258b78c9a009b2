-- Record progress reported by the step holding the lease. ARGV: prefix, '', id, token, json.
-- Returns 1 if recorded, 0 if the lease is no longer ours.
local id, token = ARGV[3], ARGV[4]
if redis.call('HGET', jkey(id), 'lease_token') ~= token then return 0 end
redis.call('HSET', jkey(id), 'progress', ARGV[5])
return 1
