-- A page of job ids in one state, after a cursor. Most states are in the order they were
-- entered, by (time, id), from their index set. 'running' is in the order of lease deadlines
-- (the leases set; a renewed lease moves on), and 'ready' in the order the jobs will be leased
-- (the ready list, from its tail; its cursor is the last id shown, and a cursor whose job has
-- left the list since starts again from the tail).
-- ARGV: state, after_score (-1 = from the start), after_id, limit.
-- Returns { next_score, next_id, ids... }; next_score is '' on the last page.
local state, after_score, after_id, limit = ARGV[1], tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])

if state == 'ready' then
  local list = qkey('ready')
  -- Head indexes: the next id to show is at `upto`, then towards the head (the newest end).
  local upto = redis.call('LLEN', list) - 1
  if after_score >= 0 then
    local pos = redis.call('LPOS', list, after_id, 'RANK', -1)
    if pos then upto = pos - 1 end
  end
  if upto < 0 then return { '', '' } end
  local from = math.max(0, upto - limit)
  local got = redis.call('LRANGE', list, from, upto)
  local ids = {}
  for j = #got, math.max(1, #got - limit + 1), -1 do ids[#ids + 1] = got[j] end
  if #got > limit then return { '0', ids[#ids], unpack(ids) } end
  return { '', '', unpack(ids) }
end

local key = qkey('state:' .. state)
if state == 'running' then key = qkey('leases') end
local ids, last_score, last_id = {}, nil, nil
local min = '-inf'
if after_score >= 0 then min = after_score end
local offset = 0
while #ids < limit do
  local batch = redis.call('ZRANGEBYSCORE', key, min, '+inf', 'WITHSCORES', 'LIMIT', offset, limit + 1)
  if #batch == 0 then break end
  for j = 1, #batch, 2 do
    local id, score = batch[j], tonumber(batch[j + 1])
    local after = after_score < 0 or score > after_score or id > after_id
    if after then
      if #ids == limit then return { last_score, last_id, unpack(ids) } end
      ids[#ids + 1] = id
      last_score, last_id = score, id
    end
  end
  offset = offset + (#batch / 2)
  if #batch / 2 < limit + 1 then break end
end
return { '', '', unpack(ids) }
