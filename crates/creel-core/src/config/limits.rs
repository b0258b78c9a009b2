//! Bounds: how long finished jobs and keys are kept (`retention`), what one request may ask
//! for (`limits`), and what one download may take (`download`).

use serde::{Deserialize, Serialize};

use super::error::{ConfigError, all_positive};

/// How long what creel writes to Redis is kept, so nothing grows without bound. Workers apply
/// it (one of them per interval, chunked).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Succeeded jobs are deleted this long after they finished, in seconds.
    pub succeeded_secs: u64,
    /// Failed (dead) jobs are deleted this long after they failed, in seconds.
    pub failed_secs: u64,
    /// Cancelled jobs are deleted this long after they were cancelled, in seconds.
    pub cancelled_secs: u64,
    /// An idempotency key expires this long after its job was enqueued (and goes with its job
    /// when that is deleted earlier), in seconds.
    pub idempotency_secs: u64,
    /// The request stream (`<prefix>:requests`) is trimmed to about this many entries.
    pub requests_max_len: u64,
    /// How often a worker applies retention, in seconds.
    pub every_secs: u64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        const DAY: u64 = 24 * 3600;
        Self {
            succeeded_secs: 7 * DAY,
            failed_secs: 30 * DAY,
            cancelled_secs: 7 * DAY,
            idempotency_secs: 30 * DAY,
            requests_max_len: 100_000,
            every_secs: 60,
        }
    }
}

impl RetentionConfig {
    /// Every period must be positive.
    pub fn validate(&self) -> Result<(), ConfigError> {
        all_positive(
            "retention",
            &[
                ("succeeded_secs", self.succeeded_secs),
                ("failed_secs", self.failed_secs),
                ("cancelled_secs", self.cancelled_secs),
                ("idempotency_secs", self.idempotency_secs),
                ("requests_max_len", self.requests_max_len),
                ("every_secs", self.every_secs),
            ],
        )
    }
}

/// Bounds on what one request may ask for.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RequestLimits {
    /// `run_at` may be at most this far in the future, in seconds.
    pub max_schedule_ahead_secs: u64,
    /// A `baijiayun.crop` may name at most this many segments.
    pub crop_max_segments: usize,
    /// A `baijiayun.crop` with `length_per_segment` cuts segments of at least this many seconds.
    pub crop_min_segment_secs: u32,
}

impl Default for RequestLimits {
    fn default() -> Self {
        Self {
            max_schedule_ahead_secs: 90 * 24 * 3600,
            crop_max_segments: 100,
            crop_min_segment_secs: 60,
        }
    }
}

/// Rules for download sources (untrusted URLs): which hosts may be fetched, and the bounds
/// that keep a hostile or broken source from holding a worker slot forever.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DownloadConfig {
    /// Hosts (names or IP addresses, as written in URLs) that may be fetched although they are
    /// or resolve to loopback, private, link-local, CGNAT, multicast or metadata addresses: the
    /// vendor simulator, tests, the demo. Empty in production.
    pub allow_hosts: Vec<String>,
    /// The largest object a download may store, in bytes (default 50 GiB); a job's
    /// `payload.max_bytes` may set a lower one. Exceeding it fails the job for good.
    pub max_bytes: u64,
    /// The slowest average throughput a transfer may keep over each
    /// `throughput_window_secs`, in bytes per second; slower fails the job for good.
    pub min_bytes_per_sec: u64,
    /// The window over which `min_bytes_per_sec` is judged, in seconds.
    pub throughput_window_secs: u64,
    /// The longest one attempt of a download may take, in seconds.
    pub max_attempt_secs: u64,
}

impl Default for DownloadConfig {
    fn default() -> Self {
        Self {
            allow_hosts: Vec::new(),
            max_bytes: 50 << 30,
            min_bytes_per_sec: 16 * 1024,
            throughput_window_secs: 60,
            max_attempt_secs: 6 * 3600,
        }
    }
}

impl DownloadConfig {
    /// Every bound must be positive.
    pub fn validate(&self) -> Result<(), ConfigError> {
        all_positive(
            "download",
            &[
                ("max_bytes", self.max_bytes),
                ("throughput_window_secs", self.throughput_window_secs),
                ("max_attempt_secs", self.max_attempt_secs),
            ],
        )
    }
}
