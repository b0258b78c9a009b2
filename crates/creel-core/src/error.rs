//! The error taxonomy: every error a job step sees is classified once, where it happens, as
//! [`JobError::Retryable`], [`JobError::RetryAfter`] or [`JobError::Permanent`]. The queue turns
//! the class into the next state: a retry with backoff, a reschedule at the given time, or dead.

use std::time::Duration;

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
    /// The job cannot succeed (bad input, a vendor's "does not exist"): it goes straight to dead.
    #[error("permanent: {0}")]
    Permanent(String),
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
            Self::Permanent(_) => JobErrorKind::Permanent,
        }
    }

    /// The human-readable reason, without the class prefix.
    #[must_use]
    pub fn reason(&self) -> &str {
        match self {
            Self::Retryable(m) | Self::Permanent(m) => m,
            Self::RetryAfter { reason, .. } => reason,
        }
    }
}
