-- Shared by every creel-queue script (prepended by scripts.rs). KEYS[1] is the queue's base key
-- (`<prefix>:q:{<queue>}`): every key a script touches starts with it, so all share the queue's
-- hash tag and live in one Redis Cluster slot. A script's own arguments start at ARGV[1].
local B = KEYS[1]

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- A millisecond timestamp as the text Redis stores. Redis 7.0 turns every Lua number argument
-- into text with snprintf("%.17g"), which was about 8 % of its CPU in `just bench-queue`: the
-- hot scripts format `now` once per call and pass text.
local function ms_text(n) return string.format('%d', n) end

local function jkey(id) return B .. ':job:' .. id end
local function qkey(suffix) return B .. ':' .. suffix end

-- Runs a variadic command (LPUSH, ZADD, ZREM…) on `key` once per 4,000 arguments (Lua's stack
-- bounds `unpack`) instead of once per job: the hot scripts gather their ids and index entries
-- and write them together, which saves Redis's per-call overhead on every job of a batch.
local function bulk(cmd, key, args)
  local n, i = #args, 1
  while i <= n do
    local j = math.min(i + 3999, n)
    redis.call(cmd, key, unpack(args, i, j))
    i = j + 1
  end
end

-- Appends `score, id` to a ZADD argument list.
local function scored(list, score, id)
  list[#list + 1] = score
  list[#list + 1] = id
end

-- Moves a job between the per-state index sets. The hot scripts write the record's 'state' and
-- 'updated_at' in the same HSET as their other fields (one call fewer per step); the rest use
-- set_state.
local function move_index(id, from, to, now)
  if from and from ~= '' then redis.call('ZREM', qkey('state:' .. from), id) end
  redis.call('ZADD', qkey('state:' .. to), now, id)
end

-- Moves a job between the per-state index sets and stamps the record.
local function set_state(id, from, to, now)
  move_index(id, from, to, now)
  redis.call('HSET', jkey(id), 'state', to, 'updated_at', now)
end

local function wake() redis.call('PUBLISH', qkey('wake'), '1') end

-- A job that ended wakes its parent, which may live in another queue (another Cluster slot):
-- the parent goes into this queue's outbox of wake-ups in the same step as the end, and
-- whoever drains the outbox next (the finishing worker at once, else any worker's reaper)
-- wakes it, then removes it. A crash between the two steps delays a wake-up; it never loses one.
local function wake_parent_later(parent, now)
  if parent and parent ~= '' then redis.call('ZADD', qkey('wakes'), now, parent) end
end

-- Appends a terminal event to the queue's event stream, capped at about max_len entries.
local function emit(event_json, max_len)
  if event_json and event_json ~= '' then
    redis.call('XADD', qkey('events'), 'MAXLEN', '~', max_len, '*', 'event', event_json)
  end
end
