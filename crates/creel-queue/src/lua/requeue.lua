-- Requeue a failed (dead) or cancelled job as a new run with fresh attempts.
-- ARGV: id
-- Returns { outcome, state }: outcome is requeued | refused | missing.
local id = ARGV[1]
local st = redis.call('HGET', jkey(id), 'state')
if not st then return { 'missing', '' } end
if st ~= 'failed' and st ~= 'cancelled' then return { 'refused', st } end
local now = now_ms()
-- A record without 'runs' is on its first run.
local runs = (tonumber(redis.call('HGET', jkey(id), 'runs')) or 1) + 1
redis.call('HSET', jkey(id), 'attempts', 0, 'lease_losses', 0, 'run_at', now, 'runs', runs)
redis.call('HDEL', jkey(id), 'cancel_requested', 'finished_at', 'checkpoint')
redis.call('LPUSH', qkey('ready'), id)
set_state(id, st, 'ready', now)
wake()
return { 'requeued', 'ready' }
