//! Queue configuration: where Redis is, the key prefix, lease and polling timings, retry policies
//! per job kind. Passed in by the caller; nothing is read from the environment here.

use std::collections::BTreeMap;
use std::time::Duration;

use creel_core::RetryPolicy;

/// How one process talks to the queue in Redis.
#[derive(Debug, Clone)]
pub struct QueueConfig {
    /// Where Redis is: one server, or a Redis Cluster's seed nodes.
    pub redis: creel_redis::RedisTarget,
    /// Every key starts with `<prefix>:`; the layout is in `keys.rs` and ARCHITECTURE.md.
    pub prefix: String,
    /// How long a worker's lease on a job lasts without renewal. A killed worker's job is
    /// run again about this long after the kill.
    pub lease: Duration,
    /// How many jobs one fetch may lease at once, and how many leased jobs a worker may hold
    /// before their steps start (its prefetch; the `creel` binary sets it to the queue's
    /// concurrency). Leased jobs not yet started are given back on a graceful stop.
    pub fetch_batch: usize,
    /// The most a worker's prefetch is raised to while its steps are short: to as many jobs as
    /// `fetch_batch` slots would start within `prefetch_wait` at the mean step time. A worker
    /// of short steps then carries a useful batch in each Redis call; one of long steps keeps
    /// `fetch_batch`. At or below `fetch_batch`, the prefetch is never raised.
    pub prefetch_max: usize,
    /// How soon a job leased beyond `fetch_batch` should start (see `prefetch_max`).
    pub prefetch_wait: Duration,
    /// How often an idle worker polls when no wake-up arrives (a safety net: pushes wake idle
    /// workers at once through pub/sub).
    pub idle_poll: Duration,
    /// The longest a single Redis command may take before it counts as failed (and is retried).
    pub response_timeout: Duration,
    /// How long idempotency keys are kept; `None` keeps them until their job is trimmed.
    pub idempotency_ttl: Option<Duration>,
    /// Approximate cap on the length of each event stream.
    pub events_max_len: u64,
    /// The CloudEvents `source` of completion events.
    pub event_source: String,
    /// Retry policy for kinds without one of their own.
    pub default_retry: RetryPolicy,
    /// Retry policies per job kind.
    pub retry: BTreeMap<String, RetryPolicy>,
    /// Replicas that must have an enqueue or an outcome before it counts as written (`WAIT`);
    /// `0` does not wait.
    pub wait_replicas: u32,
    /// The longest one `WAIT` lasts.
    pub wait_timeout: Duration,
}

impl QueueConfig {
    /// Defaults for a single Redis at `redis_url` (`redis://host:port/db`, or `rediss://`,
    /// `redis+unix://`): prefix `creel`, 30 s leases, batches of 32.
    pub fn new(redis_url: impl Into<String>) -> Self {
        Self::on(creel_redis::RedisTarget::Server(redis_url.into()))
    }

    /// Defaults for the Redis at `target`: prefix `creel`, 30 s leases, batches of 32.
    #[must_use]
    pub fn on(target: creel_redis::RedisTarget) -> Self {
        Self {
            redis: target,
            prefix: "creel".to_owned(),
            lease: Duration::from_secs(30),
            fetch_batch: 32,
            prefetch_max: 64,
            prefetch_wait: Duration::from_millis(20),
            idle_poll: Duration::from_secs(1),
            response_timeout: Duration::from_secs(5),
            idempotency_ttl: None,
            events_max_len: 100_000,
            event_source: "/creel".to_owned(),
            default_retry: RetryPolicy::default(),
            retry: BTreeMap::new(),
            wait_replicas: 0,
            wait_timeout: Duration::from_secs(1),
        }
    }

    /// The retry policy for a job kind.
    #[must_use]
    pub fn retry_policy(&self, kind: &str) -> &RetryPolicy {
        self.retry.get(kind).unwrap_or(&self.default_retry)
    }
}
