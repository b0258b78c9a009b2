//! Telemetry of the `creel` command: one `tracing` subscriber with the log output (text, or
//! JSON lines with `CREEL_LOG_FORMAT=json`, both through the redacting writer); when an OTLP
//! endpoint is configured (`telemetry.endpoint` or `OTEL_EXPORTER_OTLP_ENDPOINT`), an
//! OpenTelemetry layer exporting spans over gRPC; and when metrics are wanted (an endpoint, or
//! a Prometheus `/metrics` to serve), [`SpanMetrics`] recording creel's spans as metrics.
//! Without an endpoint nothing is exported. [`Telemetry::shutdown`] flushes what is buffered;
//! the commands call it after their drain.

use std::io::IsTerminal;

use anyhow::Context;
use creel_core::telemetry::TelemetryConfig;
use opentelemetry::KeyValue;
use opentelemetry::metrics::{Meter, MeterProvider};
use opentelemetry::trace::TracerProvider;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider,
};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::json_log::JsonLines;
use crate::logging::RedactingStderr;
use crate::span_metrics::SpanMetrics;

/// The variable that picks the log format: `json`, or text (anything else).
pub const LOG_FORMAT_VAR: &str = "CREEL_LOG_FORMAT";

/// What is traced and measured: creel's crates at INFO (their spans are the ones the
/// conventions name; storage's DEBUG events are the parts of a transfer, span events),
/// whatever the log filter says.
const INSTRUMENTED: &str = "off,creel=info,creel_api=info,creel_queue=info,creel_jobs=info,\
                            creel_vendors=info,creel_storage=debug,creel_limiter=info";

/// Whether this command serves its metrics as Prometheus text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exposition {
    /// It serves `/metrics` (the API; a worker with `telemetry.metrics_listen`).
    Prometheus,
    /// It serves none.
    Nothing,
}

/// What [`Telemetry::install`] set up; keep it until the command ends.
#[must_use = "shut it down after the drain, or buffered spans are lost"]
#[derive(Debug, Default)]
pub struct Telemetry {
    tracer: Option<SdkTracerProvider>,
    meter: Option<SdkMeterProvider>,
    metrics: MetricsHandle,
}

/// The metrics of this process: the meter (for gauges) and the Prometheus registry `/metrics`
/// renders. Cheap to clone; the default has neither.
#[derive(Clone, Default)]
pub struct MetricsHandle {
    meter: Option<Meter>,
    registry: Option<prometheus::Registry>,
}

impl std::fmt::Debug for MetricsHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsHandle")
            .field("meter", &self.meter.is_some())
            .field("prometheus", &self.registry.is_some())
            .finish()
    }
}

impl MetricsHandle {
    /// The meter, when metrics are recorded.
    #[must_use]
    pub fn meter(&self) -> Option<&Meter> {
        self.meter.as_ref()
    }

    /// The metrics as Prometheus text (exposition format 0.0.4), when served.
    #[must_use]
    pub fn render(&self) -> Option<String> {
        let registry = self.registry.as_ref()?;
        let mut text = String::new();
        prometheus::TextEncoder::new()
            .encode_utf8(&registry.gather(), &mut text)
            .ok()?;
        Some(text)
    }
}

/// Every metric creel records, by the name its Prometheus family starts with (dots as
/// underscores; the exposition adds unit and `_total` suffixes).
#[must_use]
pub fn metric_families() -> Vec<String> {
    crate::span_metrics::NAMES
        .iter()
        .chain(crate::queue_gauges::NAMES.iter())
        .map(|n| n.replace('.', "_"))
        .collect()
}

type BoxedLayer = Box<dyn Layer<Registry> + Send + Sync>;

impl Telemetry {
    /// Installs the global subscriber for the command named `command` (its default service
    /// name is `creel-<command>`): logs filtered by `log_filter`, spans to OTLP if `config`
    /// (or the environment) names an endpoint, and metrics to OTLP and/or Prometheus text.
    /// Must run inside the tokio runtime: the gRPC exporters are built on it.
    pub fn install(
        config: Option<&TelemetryConfig>,
        command: &str,
        exposition: Exposition,
        log_filter: EnvFilter,
    ) -> anyhow::Result<Self> {
        let json = std::env::var(LOG_FORMAT_VAR).is_ok_and(|v| v.eq_ignore_ascii_case("json"));
        let logs: BoxedLayer = if json {
            tracing_subscriber::fmt::layer()
                .event_format(JsonLines)
                .with_writer(RedactingStderr)
                .with_filter(log_filter)
                .boxed()
        } else {
            tracing_subscriber::fmt::layer()
                .with_ansi(std::io::stderr().is_terminal())
                .with_writer(RedactingStderr)
                .with_filter(log_filter)
                .boxed()
        };
        let default = TelemetryConfig::default();
        let config = config.unwrap_or(&default);
        let endpoint = endpoint(config);
        let resource = resource(config, command);
        let tracer = match &endpoint {
            Some(e) => Some(tracer_provider(config, e, resource.clone())?),
            None => None,
        };
        let (meter, metrics) = meter_provider(endpoint.as_deref(), exposition, resource)?;
        let mut layers: Vec<BoxedLayer> = vec![logs];
        if let Some(p) = &tracer {
            // Only the conventions' attributes: no source location (code.*), thread, target or
            // busy/idle time on every span. They were 8 more attributes per span than the
            // span's own, on the hot path of every step and in every export.
            layers.push(
                tracing_opentelemetry::layer()
                    .with_tracer(p.tracer("creel"))
                    .with_location(false)
                    .with_threads(false)
                    .with_target(false)
                    .with_tracked_inactivity(false)
                    .with_filter(EnvFilter::new(INSTRUMENTED))
                    .boxed(),
            );
        }
        if let Some(m) = metrics.meter() {
            layers.push(
                SpanMetrics::new(m)
                    .with_filter(EnvFilter::new(INSTRUMENTED))
                    .boxed(),
            );
        }
        tracing_subscriber::registry()
            .with(layers)
            .try_init()
            .context("installing the tracing subscriber")?;
        Ok(Self {
            tracer,
            meter,
            metrics,
        })
    }

    /// Whether spans are exported.
    #[must_use]
    pub fn exporting(&self) -> bool {
        self.tracer.is_some()
    }

    /// This process's metrics.
    #[must_use]
    pub fn metrics(&self) -> MetricsHandle {
        self.metrics.clone()
    }

    /// Flushes and shuts down the exporters (blocking work, off the async threads).
    pub async fn shutdown(self) {
        let (tracer, meter) = (self.tracer, self.meter);
        let done = tokio::task::spawn_blocking(move || {
            if let Some(p) = tracer
                && let Err(e) = p.shutdown()
            {
                eprintln!("telemetry: flushing spans failed: {e}");
            }
            if let Some(p) = meter
                && let Err(e) = p.shutdown()
            {
                eprintln!("telemetry: flushing metrics failed: {e}");
            }
        })
        .await;
        if let Err(e) = done {
            eprintln!("telemetry: shutting down failed: {e}");
        }
    }
}

/// The resource of this process: `service.name` from config, else `OTEL_SERVICE_NAME` (read
/// by the SDK's detectors), else `creel-<command>`; `service.version`; the configured
/// attributes beside `OTEL_RESOURCE_ATTRIBUTES`.
fn resource(config: &TelemetryConfig, command: &str) -> Resource {
    let mut resource = Resource::builder();
    if let Some(name) = config.service_name.clone() {
        resource = resource.with_service_name(name);
    } else if std::env::var("OTEL_SERVICE_NAME").is_err() {
        resource = resource.with_service_name(format!("creel-{command}"));
    }
    resource
        .with_attribute(KeyValue::new(
            opentelemetry_semantic_conventions::resource::SERVICE_VERSION,
            env!("CARGO_PKG_VERSION"),
        ))
        .with_attributes(
            config
                .resource_attributes
                .iter()
                .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
        )
        .build()
}

/// The meter provider (OTLP with an endpoint, a Prometheus reader when served), or none when
/// neither is wanted.
fn meter_provider(
    endpoint: Option<&str>,
    exposition: Exposition,
    resource: Resource,
) -> anyhow::Result<(Option<SdkMeterProvider>, MetricsHandle)> {
    if endpoint.is_none() && exposition == Exposition::Nothing {
        return Ok((None, MetricsHandle::default()));
    }
    let mut builder = SdkMeterProvider::builder().with_resource(resource);
    if let Some(endpoint) = endpoint {
        let exporter = opentelemetry_otlp::MetricExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint.to_owned())
            .build()
            .with_context(|| format!("telemetry.endpoint {endpoint:?} (metrics)"))?;
        builder = builder.with_periodic_exporter(exporter);
    }
    let registry = match exposition {
        Exposition::Prometheus => {
            let registry = prometheus::Registry::new();
            let reader = opentelemetry_prometheus::exporter()
                .with_registry(registry.clone())
                .build()
                .context("the Prometheus exporter")?;
            builder = builder.with_reader(reader);
            Some(registry)
        }
        Exposition::Nothing => None,
    };
    let provider = builder.build();
    let handle = MetricsHandle {
        meter: Some(provider.meter("creel")),
        registry,
    };
    Ok((Some(provider), handle))
}

/// The OTLP endpoint `config` or the environment names.
fn endpoint(config: &TelemetryConfig) -> Option<String> {
    config.endpoint.clone().or_else(|| {
        [
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "OTEL_EXPORTER_OTLP_ENDPOINT",
        ]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|e| !e.is_empty()))
    })
}

/// The tracer provider exporting to `endpoint`.
fn tracer_provider(
    config: &TelemetryConfig,
    endpoint: &str,
    resource: Resource,
) -> anyhow::Result<SdkTracerProvider> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint.to_owned())
        .build()
        .with_context(|| format!("telemetry.endpoint {endpoint:?}"))?;
    let processor = BatchSpanProcessor::builder(exporter)
        .with_batch_config(batch_config())
        .build();
    let mut builder = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_resource(resource);
    // Without a configured sampler the SDK reads OTEL_TRACES_SAMPLER(_ARG) itself.
    if let Some(sampler) = sampler(config) {
        builder = builder.with_sampler(sampler);
    }
    Ok(builder.build())
}

/// Spans a worker may hold for export before the SDK drops new ones, unless
/// `OTEL_BSP_MAX_QUEUE_SIZE` says otherwise: the SDK's 2,048 is a fraction of a second of a
/// busy worker's steps (it dropped 6 of 10 spans in `just bench-queue`).
const SPAN_QUEUE: usize = 16_384;

/// Spans per export, unless `OTEL_BSP_MAX_EXPORT_BATCH_SIZE` says otherwise (the SDK's 512
/// makes four times the export calls).
const SPANS_PER_EXPORT: usize = 2_048;

/// The batch processor's settings: the `OTEL_BSP_*` variables where set, else creel's sizes.
fn batch_config() -> opentelemetry_sdk::trace::BatchConfig {
    let unset = |var: &str| std::env::var_os(var).is_none();
    let mut batch = BatchConfigBuilder::default();
    if unset("OTEL_BSP_MAX_QUEUE_SIZE") {
        batch = batch.with_max_queue_size(SPAN_QUEUE);
    }
    if unset("OTEL_BSP_MAX_EXPORT_BATCH_SIZE") {
        batch = batch.with_max_export_batch_size(SPANS_PER_EXPORT);
    }
    batch.build()
}

/// The configured sampler (validated at load), if one is configured.
fn sampler(config: &TelemetryConfig) -> Option<Sampler> {
    let ratio = config.sampler_arg.unwrap_or(1.0);
    Some(match config.sampler.as_deref()? {
        "always_on" => Sampler::AlwaysOn,
        "always_off" => Sampler::AlwaysOff,
        "traceidratio" => Sampler::TraceIdRatioBased(ratio),
        "parentbased_always_off" => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
        "parentbased_traceidratio" => {
            Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(ratio)))
        }
        _ => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
    })
}
