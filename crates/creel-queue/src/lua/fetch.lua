-- Lease up to `max` jobs (lease_jobs in the prelude says what it returns).
-- ARGV: max, lease_ms, worker_id, token_prefix, promote_chunk
return lease_jobs(tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], ARGV[4], tonumber(ARGV[5]))
