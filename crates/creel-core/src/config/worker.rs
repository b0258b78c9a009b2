//! Workers (`worker`): the queues a process serves, its lease and drain times, and its probes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::RetryPolicy;

/// Workers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerConfig {
    /// Queues this worker serves and how many steps of each run at once.
    pub queues: BTreeMap<String, QueueWorkerConfig>,
    /// Lease length in milliseconds (a killed worker's jobs run again about this long later).
    pub lease_ms: u64,
    /// After SIGTERM/SIGINT, how long running steps may take to finish before they are
    /// interrupted and handed back to the queue, in milliseconds.
    pub drain_ms: u64,
    /// Retry policy of job kinds without their own.
    pub default_retry: RetryPolicy,
    /// Where `creel worker` serves `GET /livez` and `GET /readyz` for Kubernetes probes (and
    /// `/metrics`, when `telemetry.metrics_listen` is the same address); unset, it serves none.
    pub health_listen: Option<String>,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            queues: BTreeMap::from([("default".to_owned(), QueueWorkerConfig::default())]),
            lease_ms: 30_000,
            drain_ms: 20_000,
            default_retry: RetryPolicy::default(),
            health_listen: None,
        }
    }
}

/// One queue served by a worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueWorkerConfig {
    /// Steps of this queue running at once in one process; also the jobs a worker leases at
    /// once and may hold before their steps start.
    pub concurrency: usize,
    /// The most leased jobs a worker may hold before their steps start while its steps are
    /// short (so that they would start within 20 ms): each Redis call of a busy worker then
    /// carries a useful batch. Long steps keep `concurrency`; at or below it, never raised.
    pub prefetch_max: usize,
}

impl Default for QueueWorkerConfig {
    fn default() -> Self {
        Self {
            concurrency: 8,
            prefetch_max: 64,
        }
    }
}
