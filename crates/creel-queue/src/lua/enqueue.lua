-- Enqueue a batch of jobs into one queue (the caller sends at most a few hundred per call).
-- The caller has already written each job's id into the job-id index and claimed its
-- idempotency slot (keys of other slots); a job whose id already has a record is not written
-- again, so a repeated call (a retry, or a second request for a claimed slot) creates nothing.
-- ARGV: 11 values per job:
--   id, idempotency slot ('' = none; kept so retention can release it), run_at_ms (0 = now),
--   kind, account, payload, traceparent, created_by, webhook, idempotency_key (as the caller
--   gave it), tracestate
-- Returns a flat array: id, created (1) or existing (0), per job.
local now = now_ms()
local now_t = ms_text(now)
local out = {}
-- Optional fields are stored only when given: readers take a missing field as empty (and a
-- missing 'runs' as 1, 'attempts' as 0), and a smaller record is cheaper to write and read.
-- Neither the id nor the queue is stored (the record's key holds both), nor 'updated_at' (it is
-- 'created_at' until a later stamp: record.rs takes the latest).
local optional = { { 4, 'account' }, { 6, 'traceparent' }, { 7, 'created_by' }, { 8, 'webhook' },
  { 9, 'idempotency_key' }, { 10, 'tracestate' } }
-- Written together after the loop (see bulk): ready ids (the list is their index), scheduled
-- (score, id) pairs, and the state index entries of those.
local ready, scheduled, scheduled_index = {}, {}, {}
-- Ids without an idempotency slot are the caller's fresh ULIDs for this call, and a script
-- writes all of its records or none: if the first such record exists, the call is a replay (a
-- client that sent it again) and all the others exist too. One EXISTS answers for them all
-- (nil until asked); an id from a claimed slot may be an earlier call's and is checked alone.
local replay = nil
local i = 1
while i + 10 <= #ARGV do
  local id, idem, run_at = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  local k = jkey(id)
  local exists
  if idem ~= '' then
    exists = redis.call('EXISTS', k) == 1
  else
    if replay == nil then replay = redis.call('EXISTS', k) == 1 end
    exists = replay
  end
  if exists then
    out[#out + 1] = id
    out[#out + 1] = 0
  else
    local due = run_at > now
    local fields = { 'kind', ARGV[i + 3], 'payload', ARGV[i + 5],
      'created_at', now_t, 'run_at', due and ARGV[i + 2] or now_t,
      'state', due and 'scheduled' or 'ready' }
    for _, o in ipairs(optional) do
      local v = ARGV[i + o[1]]
      if v ~= '' then
        fields[#fields + 1] = o[2]
        fields[#fields + 1] = v
      end
    end
    if idem ~= '' then
      fields[#fields + 1] = 'idem'
      fields[#fields + 1] = idem
    end
    redis.call('HSET', k, unpack(fields))
    if due then
      scored(scheduled, ARGV[i + 2], id)
      scored(scheduled_index, now_t, id)
    else
      ready[#ready + 1] = id
    end
    out[#out + 1] = id
    out[#out + 1] = 1
  end
  i = i + 11
end
bulk('LPUSH', qkey('ready'), ready)
bulk('ZADD', qkey('scheduled'), scheduled)
bulk('ZADD', qkey('state:scheduled'), scheduled_index)
if #ready > 0 then wake() end
return out
