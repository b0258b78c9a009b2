//! The simulator's clock: vendor time runs `speed` times faster than real time, so a task that
//! takes 20 minutes at the vendor takes 1.2 s at speed 1000. Quotas are the exception: they
//! are enforced on real time, because creel's limiter runs on real time.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// An accelerated clock.
#[derive(Debug, Clone, Copy)]
pub struct SimClock {
    origin: Instant,
    origin_unix: Duration,
    speed: f64,
}

impl SimClock {
    /// A clock starting now, running `speed` times real time (at least 1e-3).
    #[must_use]
    pub fn new(speed: f64) -> Self {
        Self {
            origin: Instant::now(),
            origin_unix: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default(),
            speed: speed.max(1e-3),
        }
    }

    /// How much faster than real time it runs.
    #[must_use]
    pub fn speed(&self) -> f64 {
        self.speed
    }

    /// Vendor time elapsed since the simulator started.
    #[must_use]
    pub fn elapsed(&self) -> Duration {
        self.origin.elapsed().mul_f64(self.speed)
    }

    /// Vendor Unix time, in seconds (what the simulated vendor writes into `t=`, `ts`).
    #[must_use]
    pub fn unix_secs(&self) -> u64 {
        (self.origin_unix + self.elapsed()).as_secs()
    }

    /// The real duration of `vendor` time.
    #[must_use]
    pub fn real(&self, vendor: Duration) -> Duration {
        vendor.div_f64(self.speed)
    }
}
