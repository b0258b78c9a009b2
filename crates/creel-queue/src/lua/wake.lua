-- Make jobs of this queue notice something now: a scheduled job (or one waiting for a budget) becomes due (the queue's
-- workers are woken), a running one is flagged so the step it hands over to is due at once
-- (finish.lua reads the flag). ARGV: ids. Returns each job's state ('' when there is no such job).
local now = now_ms()
local out = {}
local woke = false
for i = 1, #ARGV do
  local id = ARGV[i]
  local st = redis.call('HGET', jkey(id), 'state')
  if st == 'scheduled' or st == 'waiting_budget' then
    redis.call('ZADD', qkey('scheduled'), now, id)
    redis.call('HSET', jkey(id), 'run_at', now)
    woke = true
  elseif st == 'running' then
    redis.call('HSET', jkey(id), 'wake_requested', 1)
  end
  out[#out + 1] = st or ''
end
if woke then wake() end
return out
