//! How many leased jobs a worker may hold before their steps start (its prefetch): its fetch
//! batch, raised while its steps are short, up to `QueueConfig::prefetch_max`. A busy worker of
//! short steps then carries a useful batch in each Redis call; a worker of long steps holds no
//! more than before, so leased jobs do not wait on one pod while another is idle.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The mean time this worker's steps take (exponentially weighted, each step counting 1/8).
#[derive(Debug, Default)]
pub(crate) struct StepTimes {
    /// The mean in µs; 0 until a step has been timed.
    mean_us: AtomicU64,
}

impl StepTimes {
    /// Counts one step that took `took`.
    pub(crate) fn record(&self, took: Duration) {
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX).max(1);
        let _ = self
            .mean_us
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
                Some(if old == 0 {
                    us
                } else {
                    // old + (us - old) / 8, in signed arithmetic
                    let next = old as i128 + (us as i128 - old as i128) / 8;
                    u64::try_from(next).unwrap_or(1).max(1)
                })
            });
    }

    /// The mean step time, once a step has been timed.
    pub(crate) fn mean(&self) -> Option<Duration> {
        match self.mean_us.load(Ordering::Relaxed) {
            0 => None,
            us => Some(Duration::from_micros(us)),
        }
    }
}

/// How many unstarted leases a worker may hold: `batch` (its fetch batch, one per slot), or
/// as many more as `batch` slots would start within `wait` at the `mean` step time, up to
/// `max`. Before any step has been timed, `batch`.
pub(crate) fn prefetch(batch: usize, max: usize, wait: Duration, mean: Option<Duration>) -> usize {
    let batch = batch.max(1);
    let Some(mean) = mean else { return batch };
    let would_start = batch as u128 * wait.as_micros() / mean.as_micros().max(1);
    usize::try_from(would_start)
        .unwrap_or(usize::MAX)
        .clamp(batch, max.max(batch))
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAIT: Duration = Duration::from_millis(20);

    #[test]
    fn short_steps_raise_the_prefetch_to_its_cap_and_long_ones_keep_the_batch() {
        assert_eq!(prefetch(10, 64, WAIT, None), 10, "nothing timed yet");
        assert_eq!(prefetch(10, 64, WAIT, Some(Duration::from_micros(50))), 64);
        assert_eq!(prefetch(10, 64, WAIT, Some(Duration::from_millis(5))), 40);
        assert_eq!(prefetch(10, 64, WAIT, Some(Duration::from_secs(2))), 10);
        assert_eq!(
            prefetch(100, 64, WAIT, Some(Duration::from_micros(50))),
            100
        );
        assert_eq!(
            prefetch(10, 0, WAIT, Some(Duration::from_micros(50))),
            10,
            "max 0: off"
        );
    }

    #[test]
    fn the_mean_follows_recent_steps() {
        let t = StepTimes::default();
        assert_eq!(t.mean(), None);
        t.record(Duration::from_millis(800));
        assert_eq!(t.mean(), Some(Duration::from_millis(800)));
        // 800 ms × (7/8)^128 is about 30 ns: the old step is forgotten.
        for _ in 0..128 {
            t.record(Duration::from_micros(100));
        }
        let mean = t.mean().expect("timed");
        assert!(mean < Duration::from_micros(120), "{mean:?}");
        t.record(Duration::ZERO);
        assert!(t.mean().is_some(), "a zero step still counts as timed");
    }
}
