//! Storage errors, classified once here into creel's retry taxonomy.

use creel_core::JobError;

/// What went wrong writing an object.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The object key is not acceptable (bad characters, `..`, too long).
    #[error("invalid object key {key:?}: {reason}")]
    InvalidKey {
        /// The key as given.
        key: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An object store refused or failed an operation.
    #[error("{op}: {detail}")]
    Remote {
        /// The operation, e.g. `UploadPart`.
        op: &'static str,
        /// What the store said.
        detail: String,
        /// How a job should treat it.
        class: RemoteClass,
    },
    /// The store answered in a way the protocol does not allow.
    #[error("object store protocol: {0}")]
    Protocol(String),
    /// The file system failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The path involved.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// How an object-store failure should be treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoteClass {
    /// Timeouts, connection failures, 5xx: try again with backoff.
    Transient,
    /// Throttling (503 SlowDown, 429): try again after a pause.
    SlowDown,
    /// The request can never succeed (no such bucket, access denied, bad request).
    Permanent,
}

impl StorageError {
    /// Classifies an aws-sdk error by its HTTP status (or its absence: a transport failure).
    pub fn remote<E, R>(op: &'static str, err: &aws_sdk_s3::error::SdkError<E, R>) -> Self
    where
        E: std::error::Error + 'static,
        R: std::fmt::Debug + HttpStatus,
    {
        use aws_sdk_s3::error::SdkError;
        let status = match err {
            SdkError::ServiceError(s) => Some(s.raw().status_code()),
            SdkError::ResponseError(r) => Some(r.raw().status_code()),
            _ => None,
        };
        let class = match status {
            Some(429 | 503) => RemoteClass::SlowDown,
            Some(408) | None => RemoteClass::Transient,
            Some(s) if s >= 500 => RemoteClass::Transient,
            Some(_) => RemoteClass::Permanent,
        };
        // The whole chain: "unhandled error" alone hides which answer did not parse and why.
        let chain = aws_sdk_s3::error::DisplayErrorContext(err);
        let detail = match status {
            Some(s) => format!("HTTP {s}: {chain}"),
            None => chain.to_string(),
        };
        Self::Remote { op, detail, class }
    }

    /// The same error, to be retried whatever its status said.
    #[must_use]
    pub fn transient(self) -> Self {
        match self {
            Self::Remote { op, detail, .. } => Self::Remote {
                op,
                detail,
                class: RemoteClass::Transient,
            },
            other => other,
        }
    }

    /// A protocol violation.
    pub fn protocol(msg: impl Into<String>) -> Self {
        Self::Protocol(msg.into())
    }

    /// The class of this error for the job that hit it: a bad key can never succeed; a full
    /// disk or a permission problem may be fixed by an operator, so it is retried.
    #[must_use]
    pub fn classify(&self) -> JobError {
        match self {
            Self::InvalidKey { .. } => JobError::permanent(self.to_string()),
            Self::Io { .. } | Self::Protocol(_) => JobError::retryable(self.to_string()),
            Self::Remote { class, .. } => match class {
                RemoteClass::Transient => JobError::retryable(self.to_string()),
                RemoteClass::SlowDown => {
                    JobError::retry_after(std::time::Duration::from_secs(5), self.to_string())
                }
                RemoteClass::Permanent => JobError::permanent(self.to_string()),
            },
        }
    }
}

/// A raw HTTP response whose status can be read (what aws-sdk errors carry).
pub trait HttpStatus {
    /// The status code.
    fn status_code(&self) -> u16;
}

impl HttpStatus for aws_sdk_s3::config::http::HttpResponse {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}
