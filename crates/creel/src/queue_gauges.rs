//! The queue gauges, read from Redis by the API process (one reader, not every pod) every
//! `telemetry.gauge_interval_secs`: `creel.queue.jobs` per queue and state (exact: the state
//! indexes' sizes, the ready list's length and the leases' count) and
//! `creel.queue.oldest_ready.age`, and the fleet's `creel.workers.alive` and
//! `creel.worker.slots`; and each account's configured `creel.limiter.quota`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use creel_core::JobState;
use creel_queue::{Queue, QueueCounts, Stream};
use opentelemetry::KeyValue;
use opentelemetry::metrics::Meter;
use tokio_util::sync::CancellationToken;

/// The gauges' names, as OpenTelemetry names them.
pub const NAMES: [&str; 6] = [
    "creel.queue.jobs",
    "creel.queue.oldest_ready.age",
    "creel.workers.alive",
    "creel.worker.slots",
    "creel.limiter.quota",
    "creel.events.consumer_lag",
];

/// What one read of Redis found.
#[derive(Debug, Clone, Default)]
struct Snapshot {
    queues: Vec<QueueCounts>,
    workers_alive: u64,
    /// (stream, group, lag) of the stream consumer groups.
    /// Lag per (stream, group), summed over the queues' event streams.
    lags: std::collections::BTreeMap<(&'static str, String), u64>,
}

/// What the gauges read, from the config.
#[derive(Debug, Clone)]
pub struct GaugeSources {
    /// Each queue's name and configured concurrency.
    pub queues: Vec<(String, usize)>,
    /// Each account's vendor, name and quota in calls per second.
    pub quotas: Vec<(String, String, f64)>,
    /// How often Redis is read.
    pub every: Duration,
    /// A worker is alive when its heartbeat is younger than this.
    pub alive_within: Duration,
}

impl GaugeSources {
    /// The sources `config` names.
    #[must_use]
    pub fn of(config: &creel_core::Config) -> Self {
        Self {
            queues: config
                .worker
                .queues
                .iter()
                .map(|(name, q)| (name.clone(), q.concurrency))
                .collect(),
            quotas: config
                .accounts
                .iter()
                .map(|(name, a)| {
                    let q = a.effective_quota();
                    let per_sec = f64::from(q.requests) * 1000.0 / q.window_ms.max(1) as f64;
                    (a.vendor.to_string(), name.clone(), per_sec)
                })
                .collect(),
            every: Duration::from_secs(config.telemetry.gauge_interval_secs),
            alive_within: Duration::from_millis(config.worker.lease_ms.saturating_mul(2)),
        }
    }
}

/// Registers the gauges on `meter` and refreshes their snapshot until `stop`.
pub async fn run(meter: Meter, queue: Queue, sources: GaugeSources, stop: CancellationToken) {
    let GaugeSources {
        queues,
        quotas,
        every,
        alive_within,
    } = sources;
    let _quota = meter
        .f64_observable_gauge(NAMES[4])
        .with_unit("{call}/s")
        .with_description("Each account's configured quota, in calls per second: the line creel.limiter.permits stays under.")
        .with_callback(move |observer| {
            for (vendor, account, per_sec) in &quotas {
                observer.observe(
                    *per_sec,
                    &[
                        KeyValue::new("creel.vendor", vendor.clone()),
                        KeyValue::new("creel.account", account.clone()),
                    ],
                );
            }
        })
        .build();
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
    let lag_view = Arc::clone(&snapshot);
    let _lag = meter
        .u64_observable_gauge(NAMES[5])
        .with_unit("{event}")
        .with_description("Entries of creel's streams not yet delivered to each consumer group (webhooks, cleanup on the events stream; the intake on the request stream).")
        .with_callback(move |observer| {
            for ((stream, group), lag) in lag_view.lock().map(|s| s.lags.clone()).unwrap_or_default() {
                observer.observe(
                    lag,
                    &[
                        KeyValue::new("creel.stream", stream),
                        KeyValue::new("group", group),
                    ],
                );
            }
        })
        .build();
    loop {
        let mut fresh = Snapshot::default();
        let streams = [(Stream::Events, "events"), (Stream::Requests, "requests")]
            .into_iter()
            .chain(
                queues
                    .iter()
                    .map(|(q, _)| (Stream::QueueEvents(q.clone()), "events")),
            );
        for (stream, name) in streams {
            match queue.consumer_groups(&stream).await {
                Ok(groups) => {
                    for (group, lag) in groups {
                        if let Some(lag) = lag {
                            *fresh.lags.entry((name, group)).or_default() += lag;
                        }
                    }
                }
                Err(e) => tracing::debug!(error = %e, "consumer groups not read"),
            }
        }
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
