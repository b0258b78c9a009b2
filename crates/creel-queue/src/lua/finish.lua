-- Record the outcomes of step runs under leases, for a batch of jobs in one call. Only the
-- current lease holder may finish a job, and a job finishes at most once per run, so exactly
-- one terminal event is appended.
-- ARGV: events_max_len, then what lease_jobs takes to lease jobs into the slots these outcomes
-- free, in the same call (max, lease_ms, token_prefix, promote_chunk; max 0: none),
-- then 9 values per job:
--   id, token, outcome, delay_ms, text, event_json, cancel_event_json, attempts_delta, step
-- outcome: succeeded | failed | retry | continue | waiting_budget. `text` is the result JSON
-- (succeeded), the error (failed, retry), why the job waits (waiting_budget) or ''. A pending
-- cancellation turns retry/continue/waiting_budget into cancelled. waiting_budget keeps the
-- step and its attempts and is due again after delay_ms (when the budget's period ends).
-- Returns { outcomes, leased }. Outcomes, per job: 1, the new state and 1 when its parent was
-- put in the wake-up outbox (0 otherwise: the caller drains the outbox when any was), or 0, the
-- current state and 0 when the lease is not ours. Leased: what lease_jobs returns ({} for max 0).
local max_len = ARGV[1]
local now = now_ms()
local now_t = ms_text(now)
-- Index changes of the whole batch, written together at the end (see bulk): ids whose lease
-- ends (the leases set is also the index of 'running'), (score, id) pairs per state they
-- enter, and (due, id) pairs for the schedule.
local ended, entered, scheduled = {}, {}, {}
local woke = false

-- The lease token is left in the record: it is only valid while the state is 'running'
-- (renew, progress and release check both), and each lease writes a new one.
local function finish_one(id, token, outcome, delay, text, event_json, cancel_event_json, attempts_delta, step)
  local k = jkey(id)
  local st = redis.call('HMGET', k, 'state', 'lease_token', 'cancel_requested', 'wake_requested', 'parent')
  if st[1] ~= 'running' or st[2] ~= token then return 0, (st[1] or 'missing'), 0 end
  ended[#ended + 1] = id
  -- A signal came while the step ran: the next step is due now, not after its wait.
  if st[4] == '1' then
    redis.call('HDEL', k, 'wake_requested')
    if outcome == 'continue' or outcome == 'waiting_budget' then delay = 0 end
  end
  local goes_on = outcome == 'retry' or outcome == 'continue' or outcome == 'waiting_budget'
  if goes_on and st[3] == '1' then
    goes_on = false
    outcome = 'cancelled'
    event_json = cancel_event_json
    text = 'cancelled at a step boundary'
  end
  if goes_on then
    local due_t = ms_text(now + delay)
    local next_state = 'scheduled'
    if outcome == 'retry' then
      if attempts_delta ~= 0 then redis.call('HINCRBY', k, 'attempts', attempts_delta) end
      redis.call('HSET', k, 'last_error', text, 'run_at', due_t, 'state', 'scheduled', 'updated_at', now_t)
    elseif outcome == 'waiting_budget' then
      next_state = 'waiting_budget'
      if attempts_delta ~= 0 then redis.call('HINCRBY', k, 'attempts', attempts_delta) end
      redis.call('HSET', k, 'last_error', text, 'run_at', due_t, 'state', next_state, 'updated_at', now_t)
    else
      redis.call('HSET', k, 'step', step, 'attempts', '0', 'run_at', due_t, 'state', 'scheduled', 'updated_at', now_t)
    end
    scored(scheduled, due_t, id)
    entered[next_state] = entered[next_state] or {}
    scored(entered[next_state], now_t, id)
    if delay == 0 then woke = true end
    return 1, next_state, 0
  end
  -- A succeeded record keeps the error of an earlier attempt (if any), but readers do not show
  -- it: the job no longer says it (record.rs).
  local what = outcome == 'succeeded' and 'result' or 'last_error'
  -- (updated_at is finished_at: readers take the latest stamp, record.rs)
  redis.call('HSET', k, what, text, 'finished_at', now_t, 'state', outcome)
  entered[outcome] = entered[outcome] or {}
  scored(entered[outcome], now_t, id)
  emit(event_json, max_len)
  if st[5] and st[5] ~= '' then
    wake_parent_later(st[5], now_t)
    return 1, outcome, 1
  end
  return 1, outcome, 0
end

local out = {}
local i = 6
while i + 8 <= #ARGV do
  local ok, state, parent = finish_one(ARGV[i], ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3]), ARGV[i + 4],
    ARGV[i + 5], ARGV[i + 6], tonumber(ARGV[i + 7]), ARGV[i + 8])
  out[#out + 1] = ok
  out[#out + 1] = state
  out[#out + 1] = parent
  i = i + 9
end
bulk('ZREM', qkey('leases'), ended)
for state, entries in pairs(entered) do bulk('ZADD', qkey('state:' .. state), entries) end
bulk('ZADD', qkey('scheduled'), scheduled)
if woke then wake() end
local leased = {}
local lease_max = tonumber(ARGV[2])
if lease_max > 0 then
  leased = lease_jobs(lease_max, tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5]))
end
return { out, leased }
