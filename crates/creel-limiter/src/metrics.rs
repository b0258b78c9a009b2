//! What the limiter counts, per account, for the telemetry exporters and the benchmark:
//! permits, the wait before each permit (a histogram), reschedules, late slots, vendor
//! rate-limit answers, fail-closed events and Redis round trips.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Upper bounds of the wait histogram's buckets, in milliseconds (the last bucket is open).
pub const WAIT_BUCKETS_MS: [u64; 8] = [1, 10, 50, 100, 500, 1_000, 5_000, 10_000];

/// One account's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountMetrics {
    /// Permits granted (calls made).
    pub permits: u64,
    /// Waits before a permit, by [`WAIT_BUCKETS_MS`] (one more bucket for longer waits).
    pub wait_histogram: [u64; 9],
    /// Total wait, in milliseconds.
    pub wait_ms_total: u64,
    /// Steps told to come back later because their slot was beyond the horizon.
    pub reschedules: u64,
    /// Reserved slots given up because this process reached them too late to keep the quota.
    pub late_slots: u64,
    /// "Rate limited" answers from the vendor (should stay at zero).
    pub vendor_rate_limited: u64,
    /// Calls refused because Redis could not be asked (fail closed).
    pub fail_closed: u64,
    /// Round trips to Redis.
    pub redis_calls: u64,
}

/// Counters of every account.
#[derive(Debug, Default)]
pub struct Metrics(Mutex<BTreeMap<String, AccountMetrics>>);

impl Metrics {
    pub(crate) fn update(&self, account: &str, f: impl FnOnce(&mut AccountMetrics)) {
        let mut all = self.0.lock().unwrap_or_else(|p| p.into_inner());
        f(all.entry(account.to_owned()).or_default());
    }

    pub(crate) fn permit(&self, account: &str, waited: Duration) {
        let ms = u64::try_from(waited.as_millis()).unwrap_or(u64::MAX);
        self.update(account, |m| {
            m.permits += 1;
            m.wait_ms_total += ms;
            let bucket = WAIT_BUCKETS_MS
                .iter()
                .position(|b| ms <= *b)
                .unwrap_or(WAIT_BUCKETS_MS.len());
            m.wait_histogram[bucket] += 1;
        });
    }

    /// A copy of every account's counters.
    #[must_use]
    pub fn snapshot(&self) -> BTreeMap<String, AccountMetrics> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}
