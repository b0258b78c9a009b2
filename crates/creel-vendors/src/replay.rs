//! Replay protection for signed callbacks: each callback's `qid` may be processed once. A
//! receiver claims the qid before acting and releases it if acting failed (so the vendor's
//! retry is accepted). [`MemoryReplayGuard`] keeps qids in process memory; a cluster shares a
//! Redis-backed guard.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Remembers which callback ids were processed.
pub trait ReplayGuard: Send + Sync {
    /// Claims `qid`: `true` the first time, `false` if it was claimed before (a replay).
    fn claim(&self, qid: &str) -> bool;
    /// Forgets `qid` (processing failed; the vendor's retry must be accepted).
    fn release(&self, qid: &str);
}

/// An in-memory guard remembering qids for `ttl`.
#[derive(Debug)]
pub struct MemoryReplayGuard {
    ttl: Duration,
    seen: Mutex<HashMap<String, Instant>>,
}

impl MemoryReplayGuard {
    /// A guard remembering each qid for `ttl` (longer than the vendor's retry span).
    #[must_use]
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            seen: Mutex::default(),
        }
    }
}

impl ReplayGuard for MemoryReplayGuard {
    fn claim(&self, qid: &str) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        seen.retain(|_, at| now.duration_since(*at) < self.ttl);
        if seen.contains_key(qid) {
            return false;
        }
        seen.insert(qid.to_owned(), now);
        true
    }

    fn release(&self, qid: &str) {
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(qid);
    }
}
