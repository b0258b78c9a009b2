-- A page of job ids in one state, ordered by (time of entering the state, id), after a cursor.
-- ARGV: state, after_score (-1 = from the start), after_id, limit.
-- Returns { next_score, next_id, ids... }; next_score is '' on the last page.
local state, after_score, after_id, limit = ARGV[1], tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local key = qkey('state:' .. state)
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
