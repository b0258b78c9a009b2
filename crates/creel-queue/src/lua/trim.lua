-- Retention: delete up to `chunk` jobs of a terminal state that finished before cutoff_ms,
-- with their child links. ARGV: state, cutoff_ms, chunk. Returns, per deleted job, its id and
-- its idempotency slot ('' for none): the caller releases the slot and the job-id index entry,
-- which live in other slots, after the record is gone.
local state, cutoff, chunk = ARGV[1], ARGV[2], tonumber(ARGV[3])
if state ~= 'succeeded' and state ~= 'failed' and state ~= 'cancelled' then
  return redis.error_reply('trim takes a terminal state, not ' .. state)
end
local ids = redis.call('ZRANGEBYSCORE', qkey('state:' .. state), '-inf', cutoff, 'LIMIT', 0, chunk)
local out = {}
for _, id in ipairs(ids) do
  -- 'idem' is the key's slot in its namespace; records from before namespaces hold only
  -- 'idempotency_key', which was the slot then.
  local idem = redis.call('HGET', jkey(id), 'idem')
  if not idem then idem = redis.call('HGET', jkey(id), 'idempotency_key') end
  redis.call('DEL', jkey(id))
  redis.call('DEL', qkey('children:' .. id))
  redis.call('ZREM', qkey('state:' .. state), id)
  out[#out + 1] = id
  out[#out + 1] = idem or ''
end
return out
