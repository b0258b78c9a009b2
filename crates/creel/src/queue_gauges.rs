//! The queue gauges, read from Redis by the API process (one reader, not every pod) every
//! `telemetry.gauge_interval_secs`: `creel.queue.jobs` per queue and state (exact: the state
//! indexes' sizes, not the length of a list that may hold cancelled ids) and
//! `creel.queue.oldest_ready.age`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use creel_core::JobState;
use creel_queue::{Queue, QueueCounts};
use opentelemetry::KeyValue;
use opentelemetry::metrics::Meter;
use tokio_util::sync::CancellationToken;

/// The gauges' names, as OpenTelemetry names them.
pub const NAMES: [&str; 2] = ["creel.queue.jobs", "creel.queue.oldest_ready.age"];

/// Registers the gauges on `meter` and refreshes their snapshot of `queues` until `stop`.
pub async fn run(
    meter: Meter,
    queue: Queue,
    queues: Vec<String>,
    every: Duration,
    stop: CancellationToken,
) {
    let snapshot: Arc<Mutex<Vec<QueueCounts>>> = Arc::default();
    let jobs_view = Arc::clone(&snapshot);
    let _jobs = meter
        .u64_observable_gauge(NAMES[0])
        .with_unit("{job}")
        .with_description("Jobs in each queue and state.")
        .with_callback(move |observer| {
            for counts in jobs_view.lock().map(|s| s.clone()).unwrap_or_default() {
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
            for counts in age_view.lock().map(|s| s.clone()).unwrap_or_default() {
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
    loop {
        let mut fresh = Vec::with_capacity(queues.len());
        for name in &queues {
            match queue.counts(name).await {
                Ok(c) => fresh.push(c),
                Err(e) => tracing::debug!(queue = %name, error = %e, "queue gauges not read"),
            }
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
