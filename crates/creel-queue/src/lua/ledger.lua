-- The usage ledger of one vendor account: what it spent per day and per month (amount, vendor
-- traffic, billed quantities), its budget overrides, and the holds jobs take before billed work.
-- KEYS[1] is the account's base (`<prefix>:usage:{<account>}`): every key shares its hash tag.
-- A hold is keyed by its holder (job id and what for), so taking it again after a crash finds
-- it instead of counting twice; a hold's amounts are in the day and month it was taken.
-- ARGV[1] is the operation:
--   reserve holder day month ttl_secs hold_ttl_secs amount bytes qfield quantity
--           daily monthly daily_bytes monthly_bytes   (limits: '' for none)
--           priced traffic   ('1' when the charge's unit has a price / is traffic: those
--                             limits apply to it even when its size is not known yet, 0)
--     -> { 1, 'new' | 'held' } or { 0, limit_name, used, limit }
--   settle holder amount bytes quantity   -> { 1 } or { 0 } (no such hold, or settled already)
--   release holder                        -> { 1 } or { 0 } (no such hold, or settled)
local B = KEYS[1]
local op, holder = ARGV[1], ARGV[2]
local hold = B .. ':hold:' .. holder

local function add(day, month, amount, bytes, qfield, quantity)
  for _, k in ipairs({ B .. ':d:' .. day, B .. ':m:' .. month }) do
    if amount ~= 0 then redis.call('HINCRBYFLOAT', k, 'amount', amount) end
    if bytes ~= 0 then redis.call('HINCRBY', k, 'traffic_bytes', bytes) end
    if qfield ~= '' and quantity ~= 0 then redis.call('HINCRBYFLOAT', k, 'q:' .. qfield, quantity) end
  end
end

if op == 'reserve' then
  if redis.call('EXISTS', hold) == 1 then return { 1, 'held' } end
  local day, month, ttl, hold_ttl = ARGV[3], ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6])
  local amount, bytes, qfield, quantity = tonumber(ARGV[7]), tonumber(ARGV[8]), ARGV[9], tonumber(ARGV[10])
  -- A budget set at run time (`creel accounts budget set`) wins over the configured one;
  -- 'none' there lifts a configured limit.
  local names = { 'daily', 'monthly', 'daily_traffic_bytes', 'monthly_traffic_bytes' }
  local overrides = redis.call('HMGET', B .. ':budget', unpack(names))
  local dk, mk = B .. ':d:' .. day, B .. ':m:' .. month
  local used = redis.call('HMGET', dk, 'amount', 'traffic_bytes')
  local used_m = redis.call('HMGET', mk, 'amount', 'traffic_bytes')
  local priced, traffic = ARGV[15] == '1', ARGV[16] == '1'
  local checks = {
    { names[1], tonumber(used[1]) or 0, amount, priced },
    { names[2], tonumber(used_m[1]) or 0, amount, priced },
    { names[3], tonumber(used[2]) or 0, bytes, traffic },
    { names[4], tonumber(used_m[2]) or 0, bytes, traffic },
  }
  for i, c in ipairs(checks) do
    local limit = overrides[i] or ARGV[10 + i]
    local l = tonumber(limit)
    -- A charge of unknown size (0) still needs something left of the limit.
    if c[4] and l and limit ~= 'none' and (c[2] + c[3] > l + 1e-9 or (c[3] == 0 and c[2] >= l - 1e-9)) then
      return { 0, c[1], tostring(c[2]), tostring(l) }
    end
  end
  add(day, month, amount, bytes, qfield, quantity)
  redis.call('HSET', hold, 'day', day, 'month', month, 'amount', amount, 'bytes', bytes,
    'qfield', qfield, 'q', quantity)
  redis.call('EXPIRE', hold, hold_ttl)
  redis.call('EXPIRE', dk, ttl)
  redis.call('EXPIRE', mk, ttl + 31 * 86400)
  return { 1, 'new' }
end

local h = redis.call('HMGET', hold, 'day', 'month', 'amount', 'bytes', 'qfield', 'q', 'settled')
if not h[1] or h[7] == '1' then return { 0 } end
local old_amount, old_bytes, old_q = tonumber(h[3]) or 0, tonumber(h[4]) or 0, tonumber(h[6]) or 0

if op == 'settle' then
  local amount, bytes, quantity = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
  add(h[1], h[2], amount - old_amount, bytes - old_bytes, h[5], quantity - old_q)
  redis.call('HSET', hold, 'amount', amount, 'bytes', bytes, 'q', quantity, 'settled', '1')
  return { 1 }
end

if op == 'release' then
  add(h[1], h[2], -old_amount, -old_bytes, h[5], -old_q)
  redis.call('DEL', hold)
  return { 1 }
end
return redis.error_reply('unknown ledger operation ' .. tostring(op))
