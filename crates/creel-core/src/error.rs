//! The error taxonomy: every error a job step sees is classified once, where it happens, as
//! [`JobError::Retryable`], [`JobError::RetryAfter`] or [`JobError::Permanent`]. The queue turns
//! the class into the next state: a retry with backoff, a reschedule at the given time, or dead.

use std::time::Duration;

use crate::config::Vendor;

/// A classified job-step failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// A transient failure (timeout, 5xx, connection reset): retried with exponential backoff
    /// until the kind's `max_attempts` is spent.
    #[error("retryable: {0}")]
    Retryable(String),
    /// "Not now": run again after the given delay (a quota wait, a vendor's `Retry-After`).
    /// Does not count against `max_attempts`.
    #[error("retry after {}ms: {reason}", after.as_millis())]
    RetryAfter {
        /// How long to wait before the next attempt.
        after: Duration,
        /// Why, for the job record.
        reason: String,
    },
    /// The job cannot succeed (bad input, a limit reached): it goes straight to dead.
    #[error("permanent: {0}")]
    Permanent(String),
    /// The vendor refused the request or its task failed for good: permanent like
    /// [`JobError::Permanent`], and the vendor's code and message travel to the failure event.
    #[error("permanent: {0}")]
    Vendor(VendorFailure),
}

/// A vendor's own word on why a job cannot succeed: the code it answered with (or the failure
/// status its task ended in) and its message. Carried by [`JobError::Vendor`] into the
/// `vendor_failure` of the job's `creel.job.failed` event.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VendorFailure {
    /// The vendor (`plaso`, `baijiayun`, `weclassroom`).
    pub vendor: Vendor,
    /// What answered: the endpoint's name (`transfer_video`), or `task` when the vendor's task
    /// ended in a failure status.
    pub origin: String,
    /// The vendor's code, or the task's status.
    pub code: i64,
    /// The vendor's message (for a task status: what the status means, with any detail).
    pub message: String,
}

impl VendorFailure {
    /// The origin of a task that ended in a failure status.
    pub const TASK: &'static str = "task";

    /// The vendor answered a call of `endpoint` with `code`.
    #[must_use]
    pub fn answered(vendor: Vendor, endpoint: &str, code: i64, message: impl Into<String>) -> Self {
        Self {
            vendor,
            origin: endpoint.to_owned(),
            code,
            message: message.into(),
        }
    }

    /// The vendor's task ended in failure status `status`.
    #[must_use]
    pub fn task(vendor: Vendor, status: i64, message: impl Into<String>) -> Self {
        Self::answered(vendor, Self::TASK, status, message)
    }
}

impl std::fmt::Display for VendorFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.origin == Self::TASK {
            write!(
                f,
                "{} task failed with status {}: {}",
                self.vendor, self.code, self.message
            )
        } else {
            write!(
                f,
                "{} {}: code {}: {}",
                self.vendor, self.origin, self.code, self.message
            )
        }
    }
}

/// The class of a [`JobError`], without its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobErrorKind {
    /// See [`JobError::Retryable`].
    Retryable,
    /// See [`JobError::RetryAfter`].
    RetryAfter,
    /// See [`JobError::Permanent`].
    Permanent,
}

impl JobError {
    /// A retryable error with a message.
    pub fn retryable(msg: impl Into<String>) -> Self {
        Self::Retryable(msg.into())
    }

    /// A permanent error with a message.
    pub fn permanent(msg: impl Into<String>) -> Self {
        Self::Permanent(msg.into())
    }

    /// A retry-after error.
    pub fn retry_after(after: Duration, reason: impl Into<String>) -> Self {
        Self::RetryAfter {
            after,
            reason: reason.into(),
        }
    }

    /// The class of this error.
    #[must_use]
    pub fn kind(&self) -> JobErrorKind {
        match self {
            Self::Retryable(_) => JobErrorKind::Retryable,
            Self::RetryAfter { .. } => JobErrorKind::RetryAfter,
            Self::Permanent(_) | Self::Vendor(_) => JobErrorKind::Permanent,
        }
    }

    /// The human-readable reason, without the class prefix.
    #[must_use]
    pub fn reason(&self) -> String {
        match self {
            Self::Retryable(m) | Self::Permanent(m) => m.clone(),
            Self::RetryAfter { reason, .. } => reason.clone(),
            Self::Vendor(v) => v.to_string(),
        }
    }
}
