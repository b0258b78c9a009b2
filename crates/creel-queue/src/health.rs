//! What a worker process tells Kubernetes about itself: alive (every heartbeat loop is still
//! turning, whatever Redis does: a Redis outage must not restart every pod) and ready (every
//! loop's last heartbeat reached Redis, so the worker is registered and its leases renewed).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The heartbeat loops of one process, by queue. Cheap to clone; shared by every backend of
/// the process ([`crate::RedisBackend::with_health`]).
#[derive(Debug, Clone, Default)]
pub struct WorkerHealth {
    loops: Arc<Mutex<HashMap<String, Beat>>>,
}

/// The last turn of one heartbeat loop.
#[derive(Debug, Clone, Copy)]
struct Beat {
    at: Instant,
    reached_redis: bool,
    /// How long the loop may stay silent before it counts as stuck.
    allowed_silence: Duration,
}

impl WorkerHealth {
    /// Records a turn of `queue`'s heartbeat loop: whether its beat reached Redis, and how
    /// long the loop may go without another turn.
    pub(crate) fn record(&self, queue: &str, reached_redis: bool, allowed_silence: Duration) {
        if let Ok(mut loops) = self.loops.lock() {
            loops.insert(
                queue.to_owned(),
                Beat {
                    at: Instant::now(),
                    reached_redis,
                    allowed_silence,
                },
            );
        }
    }

    /// Whether every heartbeat loop has turned recently (Redis reachable or not). `false`
    /// before the first turn.
    #[must_use]
    pub fn live(&self) -> bool {
        self.every_loop(|_| true)
    }

    /// Whether the process is alive and every loop's last beat reached Redis (the worker is
    /// registered and renewing its leases).
    #[must_use]
    pub fn ready(&self) -> bool {
        self.every_loop(|b| b.reached_redis)
    }

    /// Whether there is a loop, and every loop turned recently and passes `also`: one look
    /// under the lock.
    fn every_loop(&self, also: impl Fn(&Beat) -> bool) -> bool {
        self.loops.lock().is_ok_and(|loops| {
            !loops.is_empty()
                && loops
                    .values()
                    .all(|b| b.at.elapsed() <= b.allowed_silence && also(b))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_needs_a_recent_turn_and_ready_needs_redis_too() {
        let health = WorkerHealth::default();
        assert!(!health.live() && !health.ready(), "nothing has turned yet");
        health.record("a", false, Duration::from_secs(60));
        assert!(health.live(), "alive while Redis is down");
        assert!(!health.ready());
        health.record("a", true, Duration::from_secs(60));
        assert!(health.ready());
        health.record("b", true, Duration::ZERO);
        std::thread::sleep(Duration::from_millis(2));
        assert!(!health.live(), "a loop that stopped turning");
        assert!(!health.ready());
    }
}
