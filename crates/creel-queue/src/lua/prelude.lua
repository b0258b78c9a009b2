-- Shared by every creel-queue script (prepended by scripts.rs). ARGV[1] is the key prefix,
-- ARGV[2] the queue (scripts that start from a job id replace Q with the job's own queue).
-- Every key is built from the prefix: a single Redis primary is assumed (no Cluster slots).
local P = ARGV[1]
local Q = ARGV[2]

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- A millisecond timestamp as the text Redis stores. Redis 7.0 turns every Lua number argument
-- into text with snprintf("%.17g"), which was about 8 % of its CPU in `just bench-queue`: the
-- hot scripts format `now` once per call and pass text.
local function ms_text(n) return string.format('%d', n) end

local function jkey(id) return P .. ':job:' .. id end
local function qkey(suffix) return P .. ':q:' .. Q .. ':' .. suffix end

-- Moves a job between the per-state index sets and stamps the record.
local function set_state(id, from, to, now)
  if from and from ~= '' then redis.call('ZREM', qkey('state:' .. from), id) end
  redis.call('ZADD', qkey('state:' .. to), now, id)
  redis.call('HSET', jkey(id), 'state', to, 'updated_at', now)
end

local function wake() redis.call('PUBLISH', qkey('wake'), '1') end

-- Makes job `id`, in whatever queue, notice something now: a scheduled job becomes due (its
-- queue's workers are woken), a running one is flagged so the step it hands over to is due at
-- once (finish.lua reads the flag). Returns the job's state ('' when there is no such job).
local function wake_job(id, now)
  local st = redis.call('HMGET', jkey(id), 'state', 'queue')
  if st[1] == 'scheduled' then
    local q = P .. ':q:' .. st[2] .. ':'
    redis.call('ZADD', q .. 'scheduled', now, id)
    redis.call('HSET', jkey(id), 'run_at', now)
    redis.call('PUBLISH', q .. 'wake', '1')
  elseif st[1] == 'running' then
    redis.call('HSET', jkey(id), 'wake_requested', 1)
  end
  return st[1] or ''
end

-- A job that reached a terminal state wakes its parent, if it has one (the parent's step that
-- waits for its children runs again at once instead of polling).
local function wake_parent(parent, now)
  if parent and parent ~= '' then wake_job(parent, now) end
end

-- Appends a terminal event, capped at about ARGV-given max length.
local function emit(event_json, max_len)
  if event_json and event_json ~= '' then
    redis.call('XADD', P .. ':events', 'MAXLEN', '~', max_len, '*', 'event', event_json)
  end
end
