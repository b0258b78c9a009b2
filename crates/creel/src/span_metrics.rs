//! Metrics from creel's spans: when a span that the conventions name closes (an API request, an
//! enqueue, a step, a vendor call, a limiter wait), its duration and its bounded attributes
//! (queue, kind, account, vendor, endpoint, route, status, outcome; never a job id or a URL)
//! are recorded on OpenTelemetry instruments. The library crates only make spans; what is
//! measured is decided here, once.

use std::time::Instant;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram, Meter};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Subscriber, span};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// Duration buckets in seconds: 5 ms to 30 min (a step of a download may take that long).
const SECONDS: [f64; 16] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 1800.0,
];

/// The instruments, made once from the meter.
#[derive(Clone)]
pub struct SpanMetrics {
    sent: Counter<u64>,
    consumed: Counter<u64>,
    process_duration: Histogram<f64>,
    outcomes: Counter<u64>,
    retries: Counter<u64>,
    http_duration: Histogram<f64>,
    vendor_requests: Counter<u64>,
    vendor_duration: Histogram<f64>,
    limiter_wait: Histogram<f64>,
    queue_wait: Histogram<f64>,
    reclaimed: Counter<u64>,
    dead_lettered: Counter<u64>,
    permits: Counter<u64>,
    throttled: Counter<u64>,
    transfer_bytes: Counter<u64>,
    transfer_duration: Histogram<f64>,
    resumes: Counter<u64>,
    parts_retried: Counter<u64>,
    vendor_cost: Counter<f64>,
    vendor_traffic: Counter<u64>,
}

/// The names of every instrument [`SpanMetrics`] records, as OpenTelemetry names them.
pub const NAMES: [&str; 20] = [
    "messaging.client.sent.messages",
    "messaging.client.consumed.messages",
    "messaging.process.duration",
    "creel.job.outcomes",
    "creel.job.retries",
    "http.server.request.duration",
    "creel.vendor.requests",
    "creel.vendor.request.duration",
    "creel.limiter.wait.duration",
    "creel.job.queue_wait",
    "creel.job.reclaimed",
    "creel.job.dead_lettered",
    "creel.limiter.permits",
    "creel.limiter.throttled",
    "creel.transfer.bytes",
    "creel.transfer.duration",
    "creel.transfer.resumes",
    "creel.transfer.parts_retried",
    "creel.vendor.cost",
    "creel.vendor.traffic.bytes",
];

impl SpanMetrics {
    /// The instruments on `meter`.
    #[must_use]
    pub fn new(meter: &Meter) -> Self {
        let seconds = |name: &'static str, what: &'static str| {
            meter
                .f64_histogram(name)
                .with_unit("s")
                .with_description(what)
                .with_boundaries(SECONDS.to_vec())
                .build()
        };
        let count = |name: &'static str, unit: &'static str, what: &'static str| {
            meter
                .u64_counter(name)
                .with_unit(unit)
                .with_description(what)
                .build()
        };
        Self {
            sent: count(
                NAMES[0],
                "{message}",
                "Jobs enqueued (API, stream intake, CLI, deliveries).",
            ),
            consumed: count(NAMES[1], "{message}", "Job steps a worker started."),
            process_duration: seconds(NAMES[2], "How long a job step ran."),
            outcomes: count(
                NAMES[3],
                "{step}",
                "Job steps by how they ended: succeeded, continued, retryable, retry_after, permanent.",
            ),
            retries: count(
                NAMES[4],
                "{step}",
                "Job steps that ended in a retry (retryable or retry_after).",
            ),
            http_duration: seconds(NAMES[5], "How long the API took to answer a request."),
            vendor_requests: count(NAMES[6], "{request}", "Vendor API calls by outcome class."),
            vendor_duration: seconds(
                NAMES[7],
                "How long a vendor API call took, its quota wait included.",
            ),
            limiter_wait: seconds(
                NAMES[8],
                "How long a vendor call waited for its quota permit.",
            ),
            queue_wait: seconds(
                NAMES[9],
                "How long a job step waited for a worker after it was due.",
            ),
            reclaimed: count(
                NAMES[10],
                "{job}",
                "Jobs whose lease expired (their worker died or stalled), given back to the queue.",
            ),
            dead_lettered: count(
                NAMES[11],
                "{job}",
                "Jobs that ended failed (dead): permanent errors, attempts or lease losses spent, undecodable payloads.",
            ),
            permits: count(
                NAMES[12],
                "{permit}",
                "Quota permits granted: vendor calls the limiter let through.",
            ),
            throttled: count(
                NAMES[13],
                "{call}",
                "Vendor calls the limiter held back (their step was rescheduled).",
            ),
            transfer_bytes: count(
                NAMES[14],
                "{byte}",
                "Bytes downloads moved into storage (failed attempts included).",
            ),
            transfer_duration: seconds(
                NAMES[15],
                "How long one download attempt took, by outcome.",
            ),
            resumes: count(
                NAMES[16],
                "{attempt}",
                "Download attempts that resumed a multipart upload from its checkpoint.",
            ),
            parts_retried: count(
                NAMES[17],
                "{part}",
                "Multipart parts sent again after a failed attempt (the storage SDK's retries).",
            ),
            vendor_cost: meter
                .f64_counter(NAMES[18])
                .with_unit("{currency_unit}")
                .with_description(
                    "What vendor work cost, by vendor, account, billed unit and currency (Plaso's exports as estimated, Baijiayun's traffic as measured).",
                )
                .build(),
            vendor_traffic: count(
                NAMES[19],
                "By",
                "Bytes downloaded from a vendor whose traffic is billed (Baijiayun), by account.",
            ),
        }
    }
}

/// The span fields the metrics read (as attributes or values); others are not kept.
const READ: [&str; 23] = [
    "creel.account",
    "creel.cost.amount",
    "creel.cost.currency",
    "creel.cost.unit",
    "creel.job.kind",
    "creel.job.outcome",
    "creel.job.queue_wait",
    "creel.job.reclaimed",
    "creel.limiter.outcome",
    "creel.storage.profile",
    "creel.transfer.bytes",
    "creel.transfer.outcome",
    "creel.transfer.start",
    "creel.vendor",
    "creel.vendor.endpoint",
    "creel.vendor.traffic_bytes",
    "error.type",
    "http.request.method",
    "http.response.status_code",
    "http.route",
    "messaging.batch.message_count",
    "messaging.destination.name",
    "messaging.system",
];

/// What a span carried, kept in its extensions until it closes.
struct Seen {
    started: Instant,
    fields: Kept,
}

/// The [`READ`] fields of a span or event, as text (a handful: a list, not a map).
#[derive(Default)]
struct Kept(Vec<(&'static str, String)>);

impl Kept {
    fn get(&self, name: &str) -> Option<&String> {
        self.0.iter().find(|(k, _)| *k == name).map(|(_, v)| v)
    }

    fn contains_key(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    fn keep(&mut self, field: &Field, value: impl FnOnce() -> String) {
        let name = field.name();
        if !READ.contains(&name) {
            return;
        }
        let value = value();
        match self.0.iter_mut().find(|(k, _)| *k == name) {
            Some((_, v)) => *v = value,
            None => self.0.push((name, value)),
        }
    }
}

impl Visit for Kept {
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.keep(field, || value.to_string());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.keep(field, || value.to_string());
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.keep(field, || value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.keep(field, || format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.keep(field, || value.to_owned());
    }
}

/// The span names this layer measures.
const MEASURED: [&str; 7] = [
    "send",
    "process",
    "http request",
    "vendor call",
    "limiter wait",
    "reclaim",
    "transfer",
];

impl<S> Layer<S> for SpanMetrics
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if !MEASURED.contains(&attrs.metadata().name()) {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        let mut seen = Seen {
            started: Instant::now(),
            fields: Kept::default(),
        };
        attrs.record(&mut seen.fields);
        span.extensions_mut().insert(seen);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        if let Some(seen) = span.extensions_mut().get_mut::<Seen>() {
            values.record(&mut seen.fields);
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        match event.metadata().name() {
            "dead letter" => {
                let mut fields = Kept::default();
                event.record(&mut fields);
                let kv =
                    |k: &'static str| KeyValue::new(k, fields.get(k).cloned().unwrap_or_default());
                self.dead_lettered
                    .add(1, &[kv("messaging.destination.name"), kv("creel.job.kind")]);
            }
            "vendor cost" => {
                let mut fields = Kept::default();
                event.record(&mut fields);
                let kv =
                    |k: &'static str| KeyValue::new(k, fields.get(k).cloned().unwrap_or_default());
                let number = |k: &str| fields.get(k).and_then(|v| v.parse::<f64>().ok());
                let attributes = [
                    kv("creel.vendor"),
                    kv("creel.account"),
                    kv("creel.cost.unit"),
                    kv("creel.cost.currency"),
                ];
                if let Some(amount) = number("creel.cost.amount") {
                    self.vendor_cost.add(amount, &attributes);
                }
                let bytes = fields
                    .get("creel.vendor.traffic_bytes")
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0);
                if bytes > 0 {
                    self.vendor_traffic
                        .add(bytes, &[kv("creel.vendor"), kv("creel.account")]);
                }
            }
            "part retried" => {
                // The storage profile is the enclosing transfer span's.
                let profile = ctx
                    .event_scope(event)
                    .into_iter()
                    .flatten()
                    .find_map(|span| {
                        span.extensions()
                            .get::<Seen>()
                            .and_then(|seen| seen.fields.get("creel.storage.profile").cloned())
                    })
                    .unwrap_or_default();
                self.parts_retried
                    .add(1, &[KeyValue::new("creel.storage.profile", profile)]);
            }
            _ => {}
        }
    }

    fn on_close(&self, id: span::Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(seen) = span.extensions_mut().remove::<Seen>() else {
            return;
        };
        self.record(span.name(), &seen);
    }
}

impl SpanMetrics {
    fn record(&self, name: &str, seen: &Seen) {
        let secs = seen.started.elapsed().as_secs_f64();
        let f = |k: &str| seen.fields.get(k).cloned().unwrap_or_default();
        let kv = |k: &'static str| KeyValue::new(k, f(k));
        match name {
            "send" => self.sent.add(
                // A batch send counts each of its messages.
                seen.fields
                    .get("messaging.batch.message_count")
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(1),
                &[kv("messaging.system"), kv("messaging.destination.name")],
            ),
            "process" => {
                let base = [kv("messaging.system"), kv("messaging.destination.name")];
                let kind = kv("creel.job.kind");
                self.consumed
                    .add(1, &[base[0].clone(), base[1].clone(), kind.clone()]);
                let mut with_error = vec![base[1].clone(), kind.clone()];
                if seen.fields.contains_key("error.type") {
                    with_error.push(kv("error.type"));
                }
                self.process_duration.record(secs, &with_error);
                if let Some(waited) = seen
                    .fields
                    .get("creel.job.queue_wait")
                    .and_then(|w| w.parse::<f64>().ok())
                {
                    self.queue_wait
                        .record(waited, &[base[1].clone(), kind.clone()]);
                }
                let outcome = f("creel.job.outcome");
                self.outcomes.add(
                    1,
                    &[
                        kind.clone(),
                        KeyValue::new("creel.job.outcome", outcome.clone()),
                    ],
                );
                if outcome == "retryable" || outcome == "retry_after" {
                    self.retries.add(1, &[kind]);
                }
            }
            "http request" => {
                let mut attrs = vec![
                    kv("http.request.method"),
                    kv("http.route"),
                    KeyValue::new(
                        "http.response.status_code",
                        f("http.response.status_code").parse::<i64>().unwrap_or(0),
                    ),
                ];
                if seen.fields.contains_key("error.type") {
                    attrs.push(kv("error.type"));
                }
                self.http_duration.record(secs, &attrs);
            }
            "vendor call" => {
                let class = seen
                    .fields
                    .get("error.type")
                    .cloned()
                    .unwrap_or_else(|| "ok".to_owned());
                let target = [kv("creel.vendor"), kv("creel.vendor.endpoint")];
                self.vendor_requests.add(
                    1,
                    &[
                        target[0].clone(),
                        target[1].clone(),
                        KeyValue::new("class", class),
                    ],
                );
                self.vendor_duration.record(secs, &target);
            }
            "limiter wait" => {
                let who = [kv("creel.vendor"), kv("creel.account")];
                self.limiter_wait.record(secs, &who);
                match f("creel.limiter.outcome").as_str() {
                    "granted" => self.permits.add(1, &who),
                    "refused" => self.throttled.add(1, &who),
                    _ => {}
                }
            }
            "transfer" => {
                let profile = kv("creel.storage.profile");
                self.transfer_bytes.add(
                    f("creel.transfer.bytes").parse().unwrap_or(0),
                    std::slice::from_ref(&profile),
                );
                self.transfer_duration
                    .record(secs, &[profile.clone(), kv("creel.transfer.outcome")]);
                if f("creel.transfer.start") == "resumed" {
                    self.resumes.add(1, &[profile]);
                }
            }
            "reclaim" => self.reclaimed.add(
                f("creel.job.reclaimed").parse().unwrap_or(0),
                &[kv("messaging.destination.name")],
            ),
            _ => {}
        }
    }
}
