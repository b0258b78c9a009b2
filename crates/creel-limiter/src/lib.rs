//! creel's cluster-wide vendor rate limiter. Every replica asks one Redis for each call:
//! a Lua script per call implements GCRA on Redis `TIME` in reservation style (it reserves the
//! next slot and says how long to wait: one round trip per permit). A sliding-window quota of
//! L calls per W is spaced at `(W + margin) / L` with burst 1, so no window of W ever holds
//! more than L calls, whichever replica made them. Waits beyond a horizon are not held: the
//! step gets `RetryAfter` and its worker is free. A vendor's rate-limit answer moves the shared
//! state forward for every replica. A local `governor` bounds how fast one process asks Redis.
//! When Redis cannot be asked, the limiter fails closed: no local share of the quota.

pub mod metrics;

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use creel_core::config::{LimiterConfig, QuotaConfig, Vendor, VendorAccount};
use creel_core::limit::LimitFuture;
use creel_core::{CallLimiter, JobError, Permit, QuotaKey};
use creel_redis::{RedisConnection, RedisTarget, Timeouts};
use governor::{DefaultDirectRateLimiter, Quota};
use tokio::sync::Semaphore;

pub use metrics::{AccountMetrics, Metrics};

/// How many late slots in a row a call gives up before it reschedules instead.
const MAX_LATE_RETRIES: u32 = 3;

/// The limiter could not be built.
#[derive(Debug, thiserror::Error)]
pub enum LimiterError {
    /// Redis could not be reached or refused the scripts.
    #[error("limiter redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// A quota in config is unusable (the error names the account's field).
    #[error(transparent)]
    Quota(creel_core::config::ConfigError),
}

/// One GCRA quota: its Redis key and spacing.
#[derive(Debug, Clone)]
struct Gcra {
    key: String,
    interval_us: u64,
    cold_start_us: u64,
}

impl Gcra {
    fn new(key: String, requests: u32, window_ms: u64, margin_ms: u64) -> Self {
        let span_us = (window_ms + margin_ms) * 1_000;
        Self {
            key,
            interval_us: span_us.div_ceil(u64::from(requests)),
            cold_start_us: span_us,
        }
    }
}

/// A reservation refused because its slot is beyond the horizon.
struct Refused {
    /// How long until the slot.
    wait: Duration,
    /// Whether the wait is a quota's cold start (its first use on this Redis).
    cold_start: bool,
}

/// Everything the limiter knows of one account.
struct AccountLimits {
    account: Gcra,
    endpoints: HashMap<String, Gcra>,
    penalty_count_key: String,
    local: DefaultDirectRateLimiter,
    in_flight: Option<Arc<Semaphore>>,
    late_tolerance: Duration,
    /// When Redis last said "nothing within the horizon before T", callers of this process
    /// reschedule without asking again until `T - horizon`.
    not_before: std::sync::Mutex<Option<Instant>>,
    /// One reservation request in flight per account and process, so that a refusal is seen
    /// by the callers queued behind it instead of each asking Redis again.
    asking: tokio::sync::Mutex<()>,
}

/// The cluster-wide limiter for every configured account.
pub struct ClusterLimiter {
    redis: RedisConnection,
    accounts: HashMap<(Vendor, String), AccountLimits>,
    config: LimiterConfig,
    reserve: redis::Script,
    penalize: redis::Script,
    metrics: Arc<Metrics>,
    /// Replicas that must hold a reservation before its permit is given (0: none).
    wait_replicas: u32,
}

impl std::fmt::Debug for ClusterLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterLimiter")
            .field("accounts", &self.accounts.len())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn limits(
    prefix: &str,
    name: &str,
    account: &VendorAccount,
    config: &LimiterConfig,
) -> Result<AccountLimits, LimiterError> {
    let quota: QuotaConfig = account.effective_quota();
    quota
        .validate()
        .map_err(|e| LimiterError::Quota(e.within(&format!("accounts.{name}"))))?;
    let margin = quota.margin_ms();
    // One hash tag per account: its TAT and its endpoints' sub-quotas are reserved by one
    // script, so on a Redis Cluster they share a slot (and accounts spread over the shards).
    let base = format!("{prefix}:limit:{{{}:{name}}}", account.vendor);
    let endpoints = quota
        .endpoints
        .iter()
        .map(|(endpoint, e)| {
            let g = Gcra::new(
                format!("{base}:ep:{endpoint}"),
                e.requests,
                e.window_ms,
                margin,
            );
            (endpoint.clone(), g)
        })
        .collect();
    let rate = u64::from(quota.requests) * 1000 / quota.window_ms.max(1);
    let asks = config
        .local_asks_per_sec
        .unwrap_or_else(|| u32::try_from((rate * 4).max(10)).unwrap_or(u32::MAX));
    let asks = NonZeroU32::new(asks).unwrap_or(NonZeroU32::MIN);
    Ok(AccountLimits {
        account: Gcra::new(
            format!("{base}:tat"),
            quota.requests,
            quota.window_ms,
            margin,
        ),
        endpoints,
        penalty_count_key: format!("{base}:vendor_rate_limited"),
        local: DefaultDirectRateLimiter::direct(Quota::per_second(asks)),
        in_flight: quota
            .max_concurrent
            .map(|n| Arc::new(Semaphore::new(n as usize))),
        late_tolerance: Duration::from_millis(margin / 2),
        not_before: std::sync::Mutex::new(None),
        asking: tokio::sync::Mutex::new(()),
    })
}

impl ClusterLimiter {
    /// A limiter for `accounts` (name → account) on the Redis at `redis`, keys under
    /// `prefix`.
    pub async fn connect<'a>(
        redis: &RedisTarget,
        prefix: &str,
        accounts: impl IntoIterator<Item = (&'a String, &'a VendorAccount)>,
        config: LimiterConfig,
    ) -> Result<Self, LimiterError> {
        let timeout = Duration::from_millis(config.redis_timeout_ms);
        let redis = RedisConnection::open(
            redis,
            Timeouts {
                response: timeout,
                connect: timeout,
                retries: 1,
                max_delay: Duration::from_millis(500),
            },
        )
        .await?;
        let mut map = HashMap::new();
        for (name, account) in accounts {
            map.insert(
                (account.vendor, name.clone()),
                limits(prefix, name, account, &config)?,
            );
        }
        Ok(Self {
            redis,
            accounts: map,
            config,
            reserve: redis::Script::new(include_str!("lua/reserve.lua")),
            penalize: redis::Script::new(include_str!("lua/penalize.lua")),
            metrics: Arc::default(),
            wait_replicas: 0,
        })
    }

    /// Gives a permit only once `replicas` replicas hold its reservation (`WAIT`, within the
    /// Redis timeout; fewer fails closed). A failover then cannot roll a quota's TAT back and
    /// hand the same slots out twice; asynchronous replication alone could lose the last
    /// reservations, and a window could exceed its quota by that many.
    #[must_use]
    pub fn with_wait_replicas(mut self, replicas: u32) -> Self {
        self.wait_replicas = replicas;
        self
    }

    /// The counters.
    #[must_use]
    pub fn metrics(&self) -> Arc<Metrics> {
        Arc::clone(&self.metrics)
    }

    fn fail_closed(&self, account: &str, why: &str) -> JobError {
        self.metrics.update(account, |m| m.fail_closed += 1);
        tracing::warn!(account, why, "limiter failing closed");
        JobError::retry_after(
            Duration::from_millis(self.config.fail_closed_retry_ms),
            format!("rate limiter unavailable ({why}); failing closed"),
        )
    }

    /// One reservation: `Ok(Ok(wait))` granted, `Ok(Err(refused))` beyond the horizon.
    async fn reserve(
        &self,
        account: &str,
        limits: &AccountLimits,
        endpoint: &str,
    ) -> Result<Result<Duration, Refused>, JobError> {
        let mut invocation = self.reserve.prepare_invoke();
        invocation.arg(self.config.horizon_ms * 1_000);
        let quotas = std::iter::once(&limits.account).chain(limits.endpoints.get(endpoint));
        for g in quotas {
            invocation
                .key(&g.key)
                .arg(g.interval_us)
                .arg(g.cold_start_us);
        }
        let mut conn = self.redis.clone();
        self.metrics.update(account, |m| m.redis_calls += 1);
        let timeout = Duration::from_millis(self.config.redis_timeout_ms);
        let answer: (i64, i64, i64) =
            match tokio::time::timeout(timeout, invocation.invoke_async(&mut conn)).await {
                Ok(Ok(a)) => a,
                Ok(Err(e)) => return Err(self.fail_closed(account, &e.to_string())),
                Err(_) => return Err(self.fail_closed(account, "timed out")),
            };
        if answer.0 == 1 && self.wait_replicas > 0 {
            let acked = conn
                .wait_for_replicas(Some(&limits.account.key), self.wait_replicas, timeout)
                .await;
            match acked {
                Ok(n) if n >= self.wait_replicas => {}
                Ok(n) => {
                    let why = format!("reservation on {n} of {} replicas", self.wait_replicas);
                    return Err(self.fail_closed(account, &why));
                }
                Err(e) => return Err(self.fail_closed(account, &e.to_string())),
            }
        }
        let wait = Duration::from_micros(u64::try_from(answer.1).unwrap_or(0));
        Ok(if answer.0 == 1 {
            Ok(wait)
        } else {
            Err(Refused {
                wait,
                cold_start: answer.2 == 1,
            })
        })
    }

    async fn acquire_inner(&self, key: QuotaKey<'_>) -> Result<Permit, JobError> {
        let Some(limits) = self.accounts.get(&(key.vendor, key.account.to_owned())) else {
            return Err(JobError::permanent(format!(
                "no quota for {} account {:?}: it is not in the config",
                key.vendor, key.account
            )));
        };
        let horizon = Duration::from_millis(self.config.horizon_ms);
        let started = Instant::now();
        let slot = match &limits.in_flight {
            None => None,
            Some(s) => match tokio::time::timeout(horizon, Arc::clone(s).acquire_owned()).await {
                Ok(Ok(p)) => Some(p),
                _ => {
                    self.metrics.update(key.account, |m| m.reschedules += 1);
                    return Err(JobError::retry_after(
                        horizon,
                        format!(
                            "{} calls of this account in flight here",
                            s.available_permits()
                        ),
                    ));
                }
            },
        };
        for _ in 0..=MAX_LATE_RETRIES {
            limits.local.until_ready().await;
            let asking = limits.asking.lock().await;
            let known_wait = limits
                .not_before
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .and_then(|t| t.checked_duration_since(Instant::now()));
            if let Some(wait) = known_wait {
                self.metrics.update(key.account, |m| m.reschedules += 1);
                return Err(JobError::retry_after(
                    wait + horizon,
                    format!("{} quota: no slot within the horizon yet", key.vendor),
                ));
            }
            let asked = Instant::now();
            let reserved = self.reserve(key.account, limits, key.endpoint).await;
            drop(asking);
            match reserved? {
                Err(Refused { wait, cold_start }) => {
                    *limits.not_before.lock().unwrap_or_else(|p| p.into_inner()) =
                        Some(asked + wait.saturating_sub(horizon));
                    self.metrics.update(key.account, |m| m.reschedules += 1);
                    let why = if cold_start {
                        // Operators meet this on every fresh Redis: say it is by design.
                        format!(
                            "{} quota of account {:?}: first use on this Redis, so the first slot is one quota window away ({}ms; by design: Redis cannot know what was sent in the last window)",
                            key.vendor,
                            key.account,
                            wait.as_millis()
                        )
                    } else {
                        format!("{} quota: next slot in {}ms", key.vendor, wait.as_millis())
                    };
                    return Err(JobError::retry_after(wait, why));
                }
                Ok(wait) => {
                    // The script ran somewhere inside the round trip; the slot's local time is
                    // `asked + wait` at the latest.
                    let due = asked + wait;
                    tokio::time::sleep_until(due.into()).await;
                    if Instant::now().saturating_duration_since(due) > limits.late_tolerance {
                        // Reaching the vendor this late could crowd the next window: give the
                        // slot up and reserve another.
                        self.metrics.update(key.account, |m| m.late_slots += 1);
                        continue;
                    }
                    self.metrics.permit(key.account, started.elapsed());
                    return Ok(slot.map_or_else(Permit::free, Permit::holding));
                }
            }
        }
        self.metrics.update(key.account, |m| m.reschedules += 1);
        Err(JobError::retry_after(
            limits.late_tolerance,
            "this process keeps reaching its slots late (overloaded?)",
        ))
    }
}

impl CallLimiter for ClusterLimiter {
    fn acquire<'a>(&'a self, key: QuotaKey<'a>) -> LimitFuture<'a, Result<Permit, JobError>> {
        Box::pin(self.acquire_inner(key))
    }

    fn penalize<'a>(&'a self, key: QuotaKey<'a>, pause: Duration) -> LimitFuture<'a, ()> {
        Box::pin(async move {
            self.metrics
                .update(key.account, |m| m.vendor_rate_limited += 1);
            let Some(limits) = self.accounts.get(&(key.vendor, key.account.to_owned())) else {
                return;
            };
            let mut invocation = self.penalize.prepare_invoke();
            invocation
                .key(&limits.account.key)
                .key(&limits.penalty_count_key)
                .arg(u64::try_from(pause.as_micros()).unwrap_or(u64::MAX));
            let mut conn = self.redis.clone();
            let timeout = Duration::from_millis(self.config.redis_timeout_ms);
            let result: Result<Result<i64, _>, _> =
                tokio::time::timeout(timeout, invocation.invoke_async(&mut conn)).await;
            if !matches!(result, Ok(Ok(_))) {
                tracing::warn!(
                    account = key.account,
                    "could not record a vendor rate-limit answer in redis"
                );
            }
        })
    }
}
