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

-- Whether a state has an index set of its own (`state:<state>`, by time of entering it). The
-- two busiest do not: the ready list is the index of 'ready' and the leases set (by lease
-- deadline) that of 'running'. Keeping both in a second sorted set cost Redis about a tenth of
-- its time per job (README, Performance).
local function indexed(state) return state ~= 'ready' and state ~= 'running' end

-- Moves a job between the per-state index sets and stamps the record. (The hot scripts write
-- the index with bulk and 'state'/'updated_at' in the same HSET as their other fields.) The
-- caller moves the id in or out of the ready list and the leases set.
local function set_state(id, from, to, now)
  if from and from ~= '' and indexed(from) then redis.call('ZREM', qkey('state:' .. from), id) end
  if indexed(to) then redis.call('ZADD', qkey('state:' .. to), now, id) end
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

-- Promotes due scheduled jobs (a bounded chunk), then leases up to `max` ready jobs under tokens
-- `<token_prefix>:<n>` (the prefix starts with the worker's id)
-- (fetch.lua, and finish.lua for the slots its outcomes free). Returns { wait_ms, then one
-- string per leased job: its 14 fields joined by NUL (none can hold one; lease_reply.rs):
-- id, token, attempts, kind, account, payload, step, traceparent, runs, checkpoint,
-- created_by, lease_losses, tracestate, run_at (ms: when it became due) }. One string
-- instead of 14 values saves the client parsing them (Redis's time is about the same).
-- wait_ms: -2 paused, -1 nothing scheduled, else ms until the next scheduled job is due (0 when
-- more due jobs remain to promote).
local function lease_jobs(max, lease_ms, token_prefix, chunk)
  if redis.call('EXISTS', qkey('paused')) == 1 then return { -2 } end
  local now = now_ms()
  local now_t, lease_until_t = ms_text(now), ms_text(now + lease_ms)

  local due = redis.call('ZRANGEBYSCORE', qkey('scheduled'), '-inf', now, 'LIMIT', 0, chunk)
  for _, id in ipairs(due) do
    redis.call('ZREM', qkey('scheduled'), id)
    local st = redis.call('HGET', jkey(id), 'state')
    if st == 'scheduled' or st == 'waiting_budget' then
      redis.call('LPUSH', qkey('ready'), id)
      set_state(id, st, 'ready', now_t)
    end
  end

  local out = { 0 }
  local leased, popped = 0, 0
  -- The leases, written together after the loop (see bulk).
  local leases = {}
  while leased < max and popped < max * 4 do
    local batch = redis.call('RPOP', qkey('ready'), max - leased)
    if not batch then break end
    for _, id in ipairs(batch) do
      popped = popped + 1
      local k = jkey(id)
      -- One read for the check and everything the worker needs: ids whose record is gone or
      -- no longer ready are dropped here (cancel takes its job out of the list; this is a
      -- second guard, and drops the ids a version before that left behind).
      local f = redis.call('HMGET', k, 'state', 'attempts', 'wake_requested', 'kind', 'account', 'payload',
        'step', 'traceparent', 'runs', 'checkpoint', 'created_by', 'lease_losses', 'tracestate', 'run_at')
      if f[1] == 'ready' then
        leased = leased + 1
        local token = token_prefix .. ':' .. leased
        local attempts = ms_text((tonumber(f[2]) or 0) + 1)
        -- The token names the worker, and started_at is when the state changed: neither a
        -- 'worker' nor an 'updated_at' field is written (record.rs derives both).
        redis.call('HSET', k, 'attempts', attempts, 'lease_token', token,
          'started_at', now_t, 'state', 'running')
        -- A signal before this step started is seen by the step itself (it reads the payloads).
        if f[3] then redis.call('HDEL', k, 'wake_requested') end
        scored(leases, lease_until_t, id)
        local row = { id, token, attempts }
        for j = 4, #f do row[j] = f[j] or '' end
        out[#out + 1] = table.concat(row, '\0')
      end
    end
  end
  bulk('ZADD', qkey('leases'), leases)

  if #due == chunk then
    out[1] = 0
  else
    local nxt = redis.call('ZRANGE', qkey('scheduled'), 0, 0, 'WITHSCORES')
    if nxt[2] then out[1] = math.max(0, tonumber(nxt[2]) - now) else out[1] = -1 end
  end
  return out
end
