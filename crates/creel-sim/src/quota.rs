//! Per-account quota enforcement on real time: at most `limit` accepted requests in any
//! sliding window. The request that would be the `limit + 1`-th in a window is refused (and is
//! not counted).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// A sliding-window counter of accepted requests.
#[derive(Debug, Clone)]
pub struct SlidingWindow {
    limit: usize,
    window: Duration,
    accepted: VecDeque<Instant>,
}

impl SlidingWindow {
    /// At most `limit` requests per `window`.
    #[must_use]
    pub fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit: limit as usize,
            window,
            accepted: VecDeque::new(),
        }
    }

    /// Admits a request arriving `at`, or refuses it with the time until a slot frees.
    pub fn admit(&mut self, at: Instant) -> Result<(), Duration> {
        while let Some(first) = self.accepted.front() {
            if at.saturating_duration_since(*first) >= self.window {
                self.accepted.pop_front();
            } else {
                break;
            }
        }
        if self.accepted.len() >= self.limit {
            let first = self.accepted.front().copied().unwrap_or(at);
            return Err(self
                .window
                .saturating_sub(at.saturating_duration_since(first)));
        }
        self.accepted.push_back(at);
        Ok(())
    }
}

/// The most events of `times` (sorted, in milliseconds) inside any window of `window_ms`.
#[must_use]
pub fn max_in_window(times: &[u64], window_ms: u64) -> usize {
    let mut best = 0;
    let mut start = 0;
    for end in 0..times.len() {
        while times[end] - times[start] >= window_ms {
            start += 1;
        }
        best = best.max(end - start + 1);
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_over_the_limit_is_refused_until_the_window_slides() {
        let t0 = Instant::now();
        let mut w = SlidingWindow::new(3, Duration::from_secs(10));
        for i in 0..3 {
            assert!(w.admit(t0 + Duration::from_secs(i)).is_ok());
        }
        let wait = w
            .admit(t0 + Duration::from_secs(5))
            .expect_err("4th in window");
        assert_eq!(wait, Duration::from_secs(5));
        assert!(w.admit(t0 + Duration::from_secs(10)).is_ok());
        assert!(w.admit(t0 + Duration::from_millis(10_500)).is_err());
    }

    #[test]
    fn window_maximum() {
        assert_eq!(max_in_window(&[0, 1, 2, 10_000, 10_001], 10_000), 3);
        assert_eq!(max_in_window(&[], 10_000), 0);
        assert_eq!(max_in_window(&[0, 9_999, 10_000], 10_000), 2);
    }
}
