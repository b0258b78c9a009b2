//! What can go wrong in a vendor call, and its class, decided once here: [`Classification`]
//! (success, retryable, retry-after, permanent) and [`VendorError`], which converts into the
//! job's [`JobError`].

use std::time::Duration;

use creel_core::{JobError, VendorFailure, config::Vendor};

/// The class of one vendor call's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Classification {
    /// It worked.
    Success,
    /// A transient failure: retry with backoff.
    Retryable,
    /// "Not now" (a quota answer): retry after the delay; not a failure.
    RetryAfter(Duration),
    /// It cannot work; retrying would not help.
    Permanent,
}

impl std::fmt::Display for Classification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Success => f.write_str("success"),
            Self::Retryable => f.write_str("retryable"),
            Self::RetryAfter(d) => write!(f, "retry-after {}ms", d.as_millis()),
            Self::Permanent => f.write_str("permanent"),
        }
    }
}

/// A failed vendor call.
#[derive(Debug, Clone, thiserror::Error)]
pub enum VendorError {
    /// A request field is invalid; nothing was sent.
    #[error("{vendor} {endpoint}: invalid `{field}`: {reason}")]
    InvalidRequest {
        /// The vendor.
        vendor: Vendor,
        /// The endpoint's name.
        endpoint: &'static str,
        /// The offending field.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The account's configuration cannot be used (bad secret length, bad base URL).
    #[error("{vendor} account: {reason}")]
    Config {
        /// The vendor.
        vendor: Vendor,
        /// What is wrong.
        reason: String,
    },
    /// No answer: connection refused or reset, DNS, timeout.
    #[error("{vendor} {endpoint}: transport error: {reason}")]
    Transport {
        /// The vendor.
        vendor: Vendor,
        /// The endpoint's name.
        endpoint: &'static str,
        /// What happened.
        reason: String,
    },
    /// An HTTP status other than 200 (and not a rate-limit answer).
    #[error("{vendor} {endpoint}: HTTP {status}: {body}")]
    Http {
        /// The vendor.
        vendor: Vendor,
        /// The endpoint's name.
        endpoint: &'static str,
        /// The status.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// A 200 whose body is not the vendor's envelope.
    #[error("{vendor} {endpoint}: undecodable answer ({reason}): {body}")]
    Undecodable {
        /// The vendor.
        vendor: Vendor,
        /// The endpoint's name.
        endpoint: &'static str,
        /// The decoder's complaint.
        reason: String,
        /// The start of the body.
        body: String,
    },
    /// The vendor answered with an error code.
    #[error("{vendor} {endpoint}: code {code}: {message}")]
    Vendor {
        /// The vendor.
        vendor: Vendor,
        /// The endpoint's name.
        endpoint: &'static str,
        /// The vendor's code.
        code: i64,
        /// The vendor's message.
        message: String,
        /// Its class, from the vendor module's code table.
        class: Classification,
    },
    /// The vendor said "too many requests" (HTTP 429/503 or a configured code).
    #[error("{vendor} {endpoint}: rate limited, retry after {}ms: {detail}", after.as_millis())]
    RateLimited {
        /// The vendor.
        vendor: Vendor,
        /// The endpoint's name.
        endpoint: &'static str,
        /// How long to hold back.
        after: Duration,
        /// The answer.
        detail: String,
    },
    /// The limiter refused a permit (quota wait too long, limiter unreachable).
    #[error("{vendor} {endpoint}: no quota permit: {0}", .error)]
    Limited {
        /// The vendor.
        vendor: Vendor,
        /// The endpoint's name.
        endpoint: &'static str,
        /// The limiter's answer.
        error: JobError,
    },
}

impl VendorError {
    /// This error's class.
    #[must_use]
    pub fn classification(&self) -> Classification {
        match self {
            Self::InvalidRequest { .. } | Self::Config { .. } => Classification::Permanent,
            Self::Transport { .. } | Self::Undecodable { .. } => Classification::Retryable,
            Self::Http { status, .. } => match status {
                408 | 425 | 500..=599 => Classification::Retryable,
                _ => Classification::Permanent,
            },
            Self::Vendor { class, .. } => class.clone(),
            Self::RateLimited { after, .. } => Classification::RetryAfter(*after),
            Self::Limited { error, .. } => match error {
                JobError::RetryAfter { after, .. } => Classification::RetryAfter(*after),
                JobError::Retryable(_) => Classification::Retryable,
                JobError::Permanent(_) | JobError::Vendor(_) => Classification::Permanent,
            },
        }
    }

    /// Whether the vendor may have acted on the request although creel did not get its answer
    /// (a transport error after sending, an unreadable 200, a 5xx): a billed submission that
    /// ends so must be reconciled before it is sent again. Refusals by the limiter, by
    /// validation, 4xx answers and vendor error codes mean the vendor did nothing.
    #[must_use]
    pub fn may_have_acted(&self) -> bool {
        match self {
            Self::Transport { .. } | Self::Undecodable { .. } => true,
            Self::Http { status, .. } => matches!(status, 408 | 425 | 500..=599),
            Self::InvalidRequest { .. }
            | Self::Config { .. }
            | Self::Vendor { .. }
            | Self::RateLimited { .. }
            | Self::Limited { .. } => false,
        }
    }

    /// The vendor's code, when it answered with one.
    #[must_use]
    pub fn vendor_code(&self) -> Option<i64> {
        match self {
            Self::Vendor { code, .. } => Some(*code),
            _ => None,
        }
    }
}

impl From<VendorError> for JobError {
    /// Classified once by [`VendorError::classification`]; a vendor's permanent refusal keeps
    /// its code and message as a [`VendorFailure`].
    fn from(e: VendorError) -> Self {
        if let VendorError::Vendor {
            vendor,
            endpoint,
            code,
            message,
            class: Classification::Permanent,
        } = e
        {
            return JobError::Vendor(VendorFailure::answered(vendor, endpoint, code, message));
        }
        match e.classification() {
            Classification::Success | Classification::Retryable => {
                JobError::Retryable(e.to_string())
            }
            Classification::RetryAfter(after) => JobError::RetryAfter {
                after,
                reason: e.to_string(),
            },
            Classification::Permanent => JobError::Permanent(e.to_string()),
        }
    }
}

/// The first 300 characters of a body, for error messages.
pub(crate) fn body_prefix(body: &[u8]) -> String {
    String::from_utf8_lossy(body).chars().take(300).collect()
}
