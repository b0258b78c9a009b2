-- Lease up to `max` jobs (lease_jobs in the prelude says what it returns).
-- ARGV: max, lease_ms, token_prefix (the worker's id and the call's number), promote_chunk
return lease_jobs(tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4]))
