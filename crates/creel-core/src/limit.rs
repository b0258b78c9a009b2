//! The contract between vendor clients and the rate limiter: every outbound vendor call first
//! takes a [`Permit`] for its (vendor, account, endpoint) quota and holds it until the answer
//! is read. The cluster-wide limiter implements this in `creel-limiter`; [`Unlimited`] is the
//! no-op used where no quota applies.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::JobError;
use crate::config::Vendor;

/// A boxed future, so that [`CallLimiter`] can be used as `dyn CallLimiter`.
pub type LimitFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Whose quota a call counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct QuotaKey<'a> {
    /// The vendor.
    pub vendor: Vendor,
    /// The account name from config.
    pub account: &'a str,
    /// The endpoint's name (for per-endpoint sub-quotas).
    pub endpoint: &'a str,
}

/// Permission to make one call; whatever it holds (a per-pod concurrency slot) is given back
/// when it is dropped.
#[must_use = "a permit is held for the duration of the call"]
pub struct Permit {
    _guard: Option<Box<dyn Send + Sync>>,
}

impl Permit {
    /// A permit that holds nothing.
    pub fn free() -> Self {
        Self { _guard: None }
    }

    /// A permit that holds `guard` until dropped.
    pub fn holding(guard: impl Send + Sync + 'static) -> Self {
        Self {
            _guard: Some(Box::new(guard)),
        }
    }
}

impl std::fmt::Debug for Permit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Permit")
    }
}

/// Grants permission to make vendor calls.
pub trait CallLimiter: Send + Sync {
    /// Waits until one call may be made and counts it. An error (usually
    /// [`JobError::RetryAfter`]) means "not within a reasonable wait": the caller gives its
    /// worker slot back instead of holding it.
    fn acquire<'a>(&'a self, key: QuotaKey<'a>) -> LimitFuture<'a, Result<Permit, JobError>>;

    /// The vendor answered "rate limited": hold every caller of this quota back for `pause`.
    fn penalize<'a>(&'a self, key: QuotaKey<'a>, pause: Duration) -> LimitFuture<'a, ()>;
}

/// A limiter that always grants at once.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unlimited;

impl CallLimiter for Unlimited {
    fn acquire<'a>(&'a self, _key: QuotaKey<'a>) -> LimitFuture<'a, Result<Permit, JobError>> {
        Box::pin(async { Ok(Permit::free()) })
    }

    fn penalize<'a>(&'a self, _key: QuotaKey<'a>, _pause: Duration) -> LimitFuture<'a, ()> {
        Box::pin(async {})
    }
}
