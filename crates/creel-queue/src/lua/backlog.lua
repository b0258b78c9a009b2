-- The backlog a scaler reads (GET /v1/scaling/{queue}): three O(log n) reads, no scan.
-- Returns { ready, due, running }: ready jobs (the state index, exact: cancelled ids still in
-- the ready list are not counted), scheduled jobs whose time has come (a worker would promote
-- them), leased jobs.
local now = now_ms()
return {
  redis.call('ZCARD', qkey('state:ready')),
  redis.call('ZCOUNT', qkey('scheduled'), '-inf', ms_text(now)),
  redis.call('ZCARD', qkey('state:running')),
}
