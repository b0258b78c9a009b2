-- Record what the step holding the lease reports: its progress, or its checkpoint (what a
-- later run needs to resume). ARGV: id, token, field, json.
-- Returns 1 if recorded, 0 if the lease is no longer ours.
local id, token, field = ARGV[1], ARGV[2], ARGV[3]
if field ~= 'progress' and field ~= 'checkpoint' then
  return redis.error_reply('unknown step field ' .. field)
end
-- A token is ours while the job runs under it (finish.lua leaves the last one in the record).
local st = redis.call('HMGET', jkey(id), 'state', 'lease_token')
if st[1] ~= 'running' or st[2] ~= token then return 0 end
redis.call('HSET', jkey(id), field, ARGV[4])
return 1
