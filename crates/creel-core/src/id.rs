//! Job identifiers: ULIDs, so ids sort by creation time and are safe in Redis keys and URLs.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The id of one job: a ULID in its canonical 26-character Crockford base32 form.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, example = "01M80ZC26FKKSMB7FKWBE0W9J7")]
pub struct JobId(String);

/// Why a string is not a [`JobId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("job id {value:?} is not a ULID (26 Crockford base32 characters)")]
pub struct JobIdError {
    /// The rejected text (truncated to 64 characters).
    pub value: String,
}

impl JobId {
    /// A fresh id for the current time.
    #[must_use]
    pub fn generate() -> Self {
        Self(ulid::Ulid::new().to_string())
    }

    /// `n` fresh ids that sort in the order they are returned, even within one millisecond
    /// (so a batch lists in the order it was enqueued).
    #[must_use]
    pub fn generate_batch(n: usize) -> Vec<Self> {
        let mut g = ulid::Generator::new();
        (0..n)
            .map(|_| {
                Self(
                    g.generate()
                        .unwrap_or_else(|_| ulid::Ulid::new())
                        .to_string(),
                )
            })
            .collect()
    }

    /// The id as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for JobId {
    type Err = JobIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match ulid::Ulid::from_string(s) {
            Ok(u) => Ok(Self(u.to_string())),
            Err(_) => Err(JobIdError {
                value: s.chars().take(64).collect(),
            }),
        }
    }
}

impl TryFrom<String> for JobId {
    type Error = JobIdError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<JobId> for String {
    fn from(id: JobId) -> Self {
        id.0
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_round_trip_and_sort_by_time() {
        let a = JobId::generate();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = JobId::generate();
        assert!(a < b, "{a} should sort before {b}");
        assert_eq!(a.as_str().parse::<JobId>().expect("parses"), a);
    }

    #[test]
    fn batch_ids_sort_in_creation_order() {
        let ids = JobId::generate_batch(1000);
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
    }

    #[test]
    fn rejects_non_ulids_with_the_value_named() {
        let err = "not-an-id".parse::<JobId>().expect_err("must fail");
        assert!(err.to_string().contains("not-an-id"));
        assert!("".parse::<JobId>().is_err());
        assert!("../../etc/passwd".parse::<JobId>().is_err());
    }
}
