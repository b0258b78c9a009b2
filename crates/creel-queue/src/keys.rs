//! Where each piece of queue state lives in Redis. Every key a queue script touches carries
//! the queue's hash tag (`<prefix>:q:{<queue>}:…`), so on a Redis Cluster a queue lives on one
//! shard and its scripts stay atomic; state that spans queues (the job-id index, idempotency
//! keys, signals, the workers registry) lives in keys of its own slot and is written in separate
//! steps whose order ARCHITECTURE.md ("Key layout") argues for.

use crate::QueueConfig;

/// How many hashes the job-id → queue index is spread over. Fixed: changing it would lose the
/// index of every existing job.
const INDEX_BUCKETS: u32 = 16;

impl QueueConfig {
    /// The common part of every key of `queue`, hash tag included: what its scripts get as
    /// `KEYS[1]`.
    #[must_use]
    pub fn queue_base(&self, queue: &str) -> String {
        format!("{}:q:{{{queue}}}", self.prefix)
    }

    /// A key of `queue` (`ready`, `scheduled`, `leases`, `state:<s>`, `paused`, `wake`, …).
    pub(crate) fn queue_key(&self, queue: &str, suffix: &str) -> String {
        format!("{}:{suffix}", self.queue_base(queue))
    }

    /// The record of job `id` of `queue`.
    pub(crate) fn job_key(&self, queue: &str, id: &str) -> String {
        format!("{}:job:{id}", self.queue_base(queue))
    }

    /// The set of `parent`'s child jobs (in the parent's queue).
    pub(crate) fn children_key(&self, queue: &str, parent: &str) -> String {
        format!("{}:children:{parent}", self.queue_base(queue))
    }

    /// The completion-event stream of `queue`: one CloudEvent JSON per entry, field `event`.
    #[must_use]
    pub fn queue_events_key(&self, queue: &str) -> String {
        self.queue_key(queue, "events")
    }

    /// The fleet-wide event stream: the stream intake's answers to requests (and, in data
    /// written before per-queue streams, completion events).
    #[must_use]
    pub fn events_key(&self) -> String {
        format!("{}:events", self.prefix)
    }

    /// The hash of the job-id → queue index that holds `id`.
    pub(crate) fn index_key(&self, id: &str) -> String {
        format!("{}:jobs:{{{:02x}}}", self.prefix, index_bucket(id))
    }

    /// An idempotency slot's claim: the id of the job it names.
    pub(crate) fn idem_key(&self, slot: &str) -> String {
        format!("{}:idem:{slot}", self.prefix)
    }

    /// The common part of a signal key's two keys (its payload and its listeners), hash tag
    /// included.
    pub(crate) fn signal_base(&self, key: &str) -> String {
        format!("{}:sig:{{{key}}}", self.prefix)
    }

    pub(crate) fn queues_key(&self) -> String {
        format!("{}:queues", self.prefix)
    }

    pub(crate) fn workers_key(&self) -> String {
        format!("{}:workers", self.prefix)
    }
}

/// FNV-1a of the id, folded into [`INDEX_BUCKETS`].
fn index_bucket(id: &str) -> u32 {
    let hash = id.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    hash % INDEX_BUCKETS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_keys_share_the_queue_tag_and_ids_spread_over_the_index() {
        let cfg = QueueConfig::new("redis://x");
        assert_eq!(cfg.job_key("default", "01J"), "creel:q:{default}:job:01J");
        assert_eq!(cfg.queue_key("default", "ready"), "creel:q:{default}:ready");
        let buckets: std::collections::BTreeSet<u32> = creel_core::JobId::generate_batch(400)
            .iter()
            .map(|id| index_bucket(id.as_str()))
            .collect();
        assert_eq!(buckets.len(), INDEX_BUCKETS as usize, "{buckets:?}");
    }
}
