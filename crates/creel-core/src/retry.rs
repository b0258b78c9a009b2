//! Retry policies: how many attempts a job kind gets and how long to wait between them
//! (exponential backoff with full jitter, capped).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How a job kind is retried after a [`crate::JobError::Retryable`] failure.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryPolicy {
    /// Attempts in all, the first included. `1` means never retry. A lease that expired (the
    /// worker was killed or stalled past `worker.lease_ms`) does not count here.
    pub max_attempts: u32,
    /// How many times the job's lease may expire before it fails: a job that keeps killing
    /// or stalling its workers is not run forever. Counted apart from `max_attempts`.
    pub max_lease_losses: u32,
    /// The delay before the second attempt; doubles for each further one.
    #[serde(with = "millis")]
    pub base_delay: Duration,
    /// The largest delay between two attempts.
    #[serde(with = "millis")]
    pub max_delay: Duration,
    /// The fraction of the delay that is random (0 = none, 1 = "full jitter").
    pub jitter: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            max_lease_losses: 10,
            base_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(300),
            jitter: 0.5,
        }
    }
}

impl RetryPolicy {
    /// The delay before attempt `failed_attempt + 1`, given that attempt `failed_attempt`
    /// (1-based) just failed. `unit_random` is a number in `[0, 1)` from the caller's random
    /// source, so the function stays pure.
    #[must_use]
    pub fn delay_after(&self, failed_attempt: u32, unit_random: f64) -> Duration {
        let exp = failed_attempt.saturating_sub(1).min(30);
        let raw = self
            .base_delay
            .saturating_mul(1u32 << exp)
            .min(self.max_delay);
        let jitter = self.jitter.clamp(0.0, 1.0);
        let keep = 1.0 - jitter * unit_random.clamp(0.0, 1.0);
        raw.mul_f64(keep)
    }

    /// Whether another attempt is allowed after `attempts` have been made.
    #[must_use]
    pub fn allows_another(&self, attempts: u32) -> bool {
        attempts < self.max_attempts
    }
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let p = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(10),
            jitter: 0.0,
            ..RetryPolicy::default()
        };
        let delays: Vec<u64> = (1..=6).map(|a| p.delay_after(a, 0.7).as_secs()).collect();
        assert_eq!(delays, vec![1, 2, 4, 8, 10, 10]);
    }

    #[test]
    fn jitter_only_shortens() {
        let p = RetryPolicy {
            jitter: 1.0,
            ..RetryPolicy::default()
        };
        assert_eq!(p.delay_after(1, 0.0), Duration::from_secs(2));
        assert_eq!(p.delay_after(1, 0.5), Duration::from_secs(1));
        assert!(p.delay_after(1, 0.999) < Duration::from_millis(10));
    }

    #[test]
    fn attempts_are_counted_including_the_first() {
        let p = RetryPolicy {
            max_attempts: 3,
            ..RetryPolicy::default()
        };
        assert!(p.allows_another(2));
        assert!(!p.allows_another(3));
    }
}
