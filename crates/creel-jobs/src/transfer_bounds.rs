//! The bounds of one download attempt, so a hostile or broken source cannot hold a worker slot
//! forever: the largest object (`download.max_bytes`, or the job's lower `max_bytes`), the
//! longest attempt (`download.max_attempt_secs`) and the slowest average throughput over each
//! window (`download.min_bytes_per_sec` over `download.throughput_window_secs`). Each breach is
//! a permanent failure that names the limit.

use std::time::Duration;

use creel_core::JobError;
use creel_core::config::DownloadConfig;
use tokio::time::Instant;

/// The bounds in force for one attempt, and the throughput meter.
#[derive(Debug)]
pub(crate) struct TransferBounds {
    max_bytes: u64,
    min_bytes_per_sec: u64,
    window: Duration,
    deadline: Instant,
    window_end: Instant,
    window_bytes: u64,
}

impl TransferBounds {
    /// Bounds from config, with the job's own `max_bytes` when it is lower; the clock starts now.
    pub(crate) fn start(cfg: &DownloadConfig, job_max_bytes: Option<u64>) -> Self {
        let now = Instant::now();
        let window = Duration::from_secs(cfg.throughput_window_secs.max(1));
        Self {
            max_bytes: job_max_bytes.map_or(cfg.max_bytes, |m| m.min(cfg.max_bytes)),
            min_bytes_per_sec: cfg.min_bytes_per_sec,
            window,
            deadline: now + Duration::from_secs(cfg.max_attempt_secs),
            window_end: now + window,
            window_bytes: 0,
        }
    }

    /// Refuses an announced length over the limit before anything is stored.
    pub(crate) fn check_announced(&self, total: Option<u64>) -> Result<(), JobError> {
        match total {
            Some(t) if t > self.max_bytes => Err(self.too_large(t)),
            _ => Ok(()),
        }
    }

    /// Counts `n` more bytes, `stored` being the object's length with them.
    pub(crate) fn count(&mut self, n: usize, stored: u64) -> Result<(), JobError> {
        self.window_bytes += n as u64;
        if stored > self.max_bytes {
            return Err(self.too_large(stored));
        }
        Ok(())
    }

    /// When the next check is due: the end of the current window or the deadline.
    pub(crate) fn next_check(&self) -> Instant {
        self.window_end.min(self.deadline)
    }

    /// At [`Self::next_check`]: fails past the deadline or after a window below the minimum
    /// throughput, else starts the next window.
    pub(crate) fn check_time(&mut self) -> Result<(), JobError> {
        let now = Instant::now();
        if now >= self.deadline {
            return Err(JobError::permanent(
                "the download took longer than download.max_attempt_secs allows",
            ));
        }
        if now >= self.window_end {
            let need = self
                .min_bytes_per_sec
                .saturating_mul(self.window.as_secs().max(1));
            if self.window_bytes < need {
                return Err(JobError::permanent(format!(
                    "the source sent {} bytes in {} s, below download.min_bytes_per_sec ({} bytes/s)",
                    self.window_bytes,
                    self.window.as_secs(),
                    self.min_bytes_per_sec
                )));
            }
            self.window_bytes = 0;
            self.window_end = now + self.window;
        }
        Ok(())
    }

    fn too_large(&self, bytes: u64) -> JobError {
        JobError::permanent(format!(
            "the source is larger than the {} bytes max_bytes allows (at least {bytes})",
            self.max_bytes
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> DownloadConfig {
        DownloadConfig {
            max_bytes: 1000,
            min_bytes_per_sec: 10,
            throughput_window_secs: 1,
            max_attempt_secs: 5,
            ..DownloadConfig::default()
        }
    }

    #[test]
    fn the_job_may_lower_the_size_limit_but_not_raise_it() {
        let b = TransferBounds::start(&cfg(), Some(100));
        assert!(b.check_announced(Some(101)).is_err());
        assert!(b.check_announced(Some(100)).is_ok());
        let b = TransferBounds::start(&cfg(), Some(5000));
        let err = b.check_announced(Some(1001)).expect_err("over config");
        assert!(err.to_string().contains("max_bytes"), "{err}");
    }

    #[test]
    fn bytes_past_the_limit_fail_the_transfer() {
        let mut b = TransferBounds::start(&cfg(), None);
        assert!(b.count(600, 600).is_ok());
        assert!(b.count(600, 1200).is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_window_and_the_deadline_fail_with_the_limit_named() {
        let mut b = TransferBounds::start(&cfg(), None);
        b.count(20, 20).expect("fits");
        tokio::time::sleep_until(b.next_check()).await;
        b.check_time().expect("20 bytes in 1 s is fast enough");
        b.count(3, 23).expect("fits");
        tokio::time::sleep_until(b.next_check()).await;
        let err = b.check_time().expect_err("3 bytes in 1 s is too slow");
        assert!(err.to_string().contains("min_bytes_per_sec"), "{err}");
        let mut b = TransferBounds::start(&cfg(), None);
        for _ in 0..5 {
            b.count(100, 100).expect("fits");
            tokio::time::sleep_until(b.next_check()).await;
            let _ = b.check_time();
        }
        let err = b.check_time().expect_err("past the deadline");
        assert!(err.to_string().contains("max_attempt_secs"), "{err}");
    }
}
