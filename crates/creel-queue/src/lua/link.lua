-- The child's half of linking a child job to its parent (the parent's half, adding the child
-- to its set, came first): record the parent on the child, so the child's end wakes it.
-- ARGV: child, parent. Returns the child's state ('' when there is no such job): a child that
-- had already ended puts its parent in the wake-up outbox here (the caller drains it).
local child, parent = ARGV[1], ARGV[2]
local st = redis.call('HGET', jkey(child), 'state')
if not st then return '' end
redis.call('HSET', jkey(child), 'parent', parent)
if st == 'succeeded' or st == 'failed' or st == 'cancelled' then
  wake_parent_later(parent, now_ms())
end
return st
