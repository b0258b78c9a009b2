-- Link a child job to its parent: cancelling the parent cancels the child, and a child that
-- ends wakes the parent. A child that has already ended (it can finish before the parent links
-- it) wakes the parent now. Idempotent.
-- ARGV: prefix, '', parent, child
local parent, child = ARGV[3], ARGV[4]
redis.call('SADD', P .. ':children:' .. parent, child)
redis.call('HSET', jkey(child), 'parent', parent)
local st = redis.call('HGET', jkey(child), 'state')
if st == 'succeeded' or st == 'failed' or st == 'cancelled' then
  wake_job(parent, now_ms())
end
return 1
