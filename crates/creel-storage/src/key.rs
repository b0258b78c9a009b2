//! Object keys: relative, `/`-separated paths of safe characters, valid in a directory and in
//! every object store.

use std::fmt;

use crate::StorageError;

const MAX_KEY_LEN: usize = 1024;

/// A validated object key, e.g. `acme/download/2026-11-22/01M80….mp4`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectKey(String);

impl ObjectKey {
    /// Validates `key`: 1–1024 bytes of `[A-Za-z0-9._-]` segments separated by `/`, no empty,
    /// `.` or `..` segment, no leading `/`.
    pub fn parse(key: &str) -> Result<Self, StorageError> {
        let bad = |reason| StorageError::InvalidKey {
            key: key.chars().take(200).collect(),
            reason,
        };
        if key.is_empty() || key.len() > MAX_KEY_LEN {
            return Err(bad("must be 1 to 1024 bytes"));
        }
        for seg in key.split('/') {
            if seg.is_empty() {
                return Err(bad("must not start or end with '/' or contain '//'"));
            }
            if seg == "." || seg == ".." {
                return Err(bad("must not contain '.' or '..' segments"));
            }
            if !seg
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
            {
                return Err(bad(
                    "segments may hold only A-Z, a-z, 0-9, '.', '_' and '-'",
                ));
            }
        }
        Ok(Self(key.to_owned()))
    }

    /// The key as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_keys() {
        for k in ["a.mp4", "acme/download/2026-11-22/01M80.mp4", "x_y-z/0"] {
            ObjectKey::parse(k).expect(k);
        }
    }

    #[test]
    fn refuses_escapes_and_odd_characters() {
        for k in [
            "",
            "/abs",
            "a/../b",
            "a//b",
            "./a",
            "a b",
            "a\\b",
            "日本.mp4",
            "a/",
        ] {
            assert!(ObjectKey::parse(k).is_err(), "{k:?} should be refused");
        }
    }
}
