//! The queue gauges, read from Redis by the API process (one reader, not every pod) every
//! `telemetry.gauge_interval_secs`: `creel.queue.jobs` per queue and state (exact: the state
//! indexes' sizes, not the length of a list that may hold cancelled ids) and
//! `creel.queue.oldest_ready.age`, and the fleet's `creel.workers.alive` and
//! `creel.worker.slots`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use creel_core::JobState;
use creel_queue::{Queue, QueueCounts};
use opentelemetry::KeyValue;
use opentelemetry::metrics::Meter;
use tokio_util::sync::CancellationToken;

/// The gauges' names, as OpenTelemetry names them.
pub const NAMES: [&str; 4] = [
    "creel.queue.jobs",
    "creel.queue.oldest_ready.age",
    "creel.workers.alive",
    "creel.worker.slots",
];

/// What one read of Redis found.
#[derive(Debug, Clone, Default)]
struct Snapshot {
    queues: Vec<QueueCounts>,
    workers_alive: u64,
}

/// Registers the gauges on `meter` and refreshes their snapshot of `queues` (name, the
/// configured concurrency) until `stop`. A worker is alive when its heartbeat is younger than
/// `alive_within`.
pub async fn run(
    meter: Meter,
    queue: Queue,
    queues: Vec<(String, usize)>,
    every: Duration,
    alive_within: Duration,
    stop: CancellationToken,
) {
    let snapshot: Arc<Mutex<Snapshot>> = Arc::default();
    let jobs_view = Arc::clone(&snapshot);
    let _jobs = meter
        .u64_observable_gauge(NAMES[0])
        .with_unit("{job}")
        .with_description("Jobs in each queue and state.")
        .with_callback(move |observer| {
            for counts in jobs_view
                .lock()
                .map(|s| s.queues.clone())
                .unwrap_or_default()
            {
                for state in JobState::ALL {
                    observer.observe(
                        counts.get(state),
                        &[
                            KeyValue::new("messaging.destination.name", counts.queue.clone()),
                            KeyValue::new("creel.job.state", state.as_str()),
                        ],
                    );
                }
            }
        })
        .build();
    let age_view = Arc::clone(&snapshot);
    let _age = meter
        .f64_observable_gauge(NAMES[1])
        .with_unit("s")
        .with_description("How long the oldest ready job of each queue has waited (0 when none).")
        .with_callback(move |observer| {
            for counts in age_view
                .lock()
                .map(|s| s.queues.clone())
                .unwrap_or_default()
            {
                observer.observe(
                    counts.oldest_ready_ms.unwrap_or(0) as f64 / 1000.0,
                    &[KeyValue::new(
                        "messaging.destination.name",
                        counts.queue.clone(),
                    )],
                );
            }
        })
        .build();
    let alive_view = Arc::clone(&snapshot);
    let _alive = meter
        .u64_observable_gauge(NAMES[2])
        .with_unit("{worker}")
        .with_description("Worker processes whose heartbeat is recent.")
        .with_callback(move |observer| {
            let alive = alive_view.lock().map(|s| s.workers_alive).unwrap_or(0);
            observer.observe(alive, &[]);
        })
        .build();
    let slots_view = Arc::clone(&snapshot);
    let limits = queues.clone();
    let _slots = meter
        .u64_observable_gauge(NAMES[3])
        .with_unit("{slot}")
        .with_description(
            "Worker slots per queue: busy (running steps) and limit (alive workers times the \
             queue's configured concurrency, assuming the fleet shares this configuration).",
        )
        .with_callback(move |observer| {
            let Ok(s) = slots_view.lock().map(|s| s.clone()) else {
                return;
            };
            for counts in &s.queues {
                let queue = KeyValue::new("messaging.destination.name", counts.queue.clone());
                observer.observe(
                    counts.get(JobState::Running),
                    &[queue.clone(), KeyValue::new("state", "busy")],
                );
                let concurrency = limits
                    .iter()
                    .find(|(n, _)| *n == counts.queue)
                    .map_or(0, |(_, c)| *c as u64);
                observer.observe(
                    s.workers_alive * concurrency,
                    &[queue, KeyValue::new("state", "limit")],
                );
            }
        })
        .build();
    loop {
        let mut fresh = Snapshot::default();
        for (name, _) in &queues {
            match queue.counts(name).await {
                Ok(c) => fresh.queues.push(c),
                Err(e) => tracing::debug!(queue = %name, error = %e, "queue gauges not read"),
            }
        }
        match queue.workers(alive_within).await {
            Ok(w) => fresh.workers_alive = w.len() as u64,
            Err(e) => tracing::debug!(error = %e, "workers not read"),
        }
        if let Ok(mut s) = snapshot.lock() {
            *s = fresh;
        }
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(every) => {}
        }
    }
}
