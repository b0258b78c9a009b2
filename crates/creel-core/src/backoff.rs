//! The wait between tries of creel's own loops that retry infrastructure (joining a consumer
//! group, fetching, recording an outcome, resubscribing, delivering a webhook): it doubles from
//! a first wait up to a cap and starts over after a success. No jitter: each loop already
//! runs at its own moment in its own process. A job's retries follow its kind's
//! [`crate::RetryPolicy`] instead.

use std::time::Duration;

/// A doubling wait between `first` and `cap`.
#[derive(Debug, Clone)]
pub struct Backoff {
    first: Duration,
    cap: Duration,
    next: Duration,
}

impl Backoff {
    /// Starts at `first`, doubling up to `cap`.
    #[must_use]
    pub fn new(first: Duration, cap: Duration) -> Self {
        Self {
            first,
            cap,
            next: first.min(cap),
        }
    }

    /// The wait before the next try; the one after is twice as long, up to the cap.
    pub fn next_wait(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(self.cap);
        wait
    }

    /// After a success: the next wait is the first again.
    pub fn reset(&mut self) {
        self.next = self.first.min(self.cap);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_the_cap_and_starts_over() {
        let ms = Duration::from_millis;
        let mut b = Backoff::new(ms(50), ms(300));
        let waits: Vec<_> = (0..5).map(|_| b.next_wait()).collect();
        assert_eq!(waits, [ms(50), ms(100), ms(200), ms(300), ms(300)]);
        b.reset();
        assert_eq!(b.next_wait(), ms(50));
        assert_eq!(Backoff::new(ms(500), ms(100)).next_wait(), ms(100));
    }
}
