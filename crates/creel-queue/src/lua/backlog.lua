-- The backlog a scaler reads (GET /v1/scaling/{queue}): three O(log n) reads, no scan.
-- Returns { ready, due, running }: ready jobs (the ready list, exact: a cancelled job leaves
-- it), scheduled jobs whose time has come (a worker would promote them), leased jobs.
local now = now_ms()
return {
  redis.call('LLEN', qkey('ready')),
  redis.call('ZCOUNT', qkey('scheduled'), '-inf', ms_text(now)),
  redis.call('ZCARD', qkey('leases')),
}
