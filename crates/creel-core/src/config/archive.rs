//! Backfill (`archive`): how an `archive.scan` job walks a vendor's lessons and how far ahead of
//! the workers it may enqueue.

use serde::{Deserialize, Serialize};

use super::error::{ConfigError, all_positive};

/// `[archive]`: the defaults of `archive.scan` jobs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ArchiveConfig {
    /// The most archive jobs one scan keeps unfinished at once: it enqueues more only as
    /// earlier ones end (a scan's `max_in_flight` may set fewer).
    pub max_in_flight: u32,
    /// Lessons asked for per vendor list call (Baijiayun allows up to 1000).
    pub page_size: u32,
    /// The most record ids one Plaso scan may name.
    pub max_record_ids: usize,
}

impl Default for ArchiveConfig {
    fn default() -> Self {
        Self {
            max_in_flight: 20,
            page_size: 100,
            max_record_ids: 100_000,
        }
    }
}

impl ArchiveConfig {
    /// Every bound must be positive, and a page at most 1000 lessons.
    pub fn validate(&self) -> Result<(), ConfigError> {
        all_positive(
            "archive",
            &[
                ("max_in_flight", u64::from(self.max_in_flight)),
                ("page_size", u64::from(self.page_size)),
                ("max_record_ids", self.max_record_ids as u64),
            ],
        )?;
        if self.page_size > 1000 {
            return Err(ConfigError::invalid(
                "archive.page_size",
                "must be 1 to 1000 (Baijiayun's largest page)",
            ));
        }
        Ok(())
    }
}
