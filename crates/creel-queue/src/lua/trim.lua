-- Retention: delete up to `chunk` jobs of a terminal state that finished before cutoff_ms,
-- with their idempotency keys and child links. ARGV: prefix, queue, state, cutoff_ms, chunk. Returns the count.
local state, cutoff, chunk = ARGV[3], ARGV[4], tonumber(ARGV[5])
if state ~= 'succeeded' and state ~= 'failed' and state ~= 'cancelled' then
  return redis.error_reply('trim takes a terminal state, not ' .. state)
end
local ids = redis.call('ZRANGEBYSCORE', qkey('state:' .. state), '-inf', cutoff, 'LIMIT', 0, chunk)
for _, id in ipairs(ids) do
  -- 'idem' is the key's slot in its namespace; records from before namespaces hold only
  -- 'idempotency_key', which was the slot then.
  local idem = redis.call('HGET', jkey(id), 'idem')
  if not idem then idem = redis.call('HGET', jkey(id), 'idempotency_key') end
  if idem and idem ~= '' and redis.call('GET', P .. ':idem:' .. idem) == id then
    redis.call('DEL', P .. ':idem:' .. idem)
  end
  redis.call('DEL', jkey(id))
  redis.call('DEL', P .. ':children:' .. id)
  redis.call('ZREM', qkey('state:' .. state), id)
end
return #ids
