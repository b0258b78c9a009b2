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

impl StorageError {
    /// The class of this error for the job that hit it: a bad key can never succeed; a full
    /// disk or a permission problem may be fixed by an operator, so it is retried.
    #[must_use]
    pub fn classify(&self) -> JobError {
        match self {
            Self::InvalidKey { .. } => JobError::permanent(self.to_string()),
            Self::Io { .. } => JobError::retryable(self.to_string()),
        }
    }
}
