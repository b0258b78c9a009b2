//! Telemetry of the `creel` command: one `tracing` subscriber with the log output (text, or
//! JSON lines with `CREEL_LOG_FORMAT=json`, both through the redacting writer) and, when an
//! OTLP endpoint is configured (`telemetry.endpoint` or `OTEL_EXPORTER_OTLP_ENDPOINT`), an
//! OpenTelemetry layer exporting spans over gRPC. Without an endpoint there is no OTel layer
//! at all: nothing is exported and no span carries an OTel context. [`Telemetry::shutdown`]
//! flushes what is buffered; the commands call it after their drain.

use std::io::IsTerminal;

use anyhow::Context;
use creel_core::telemetry::TelemetryConfig;
use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::json_log::JsonLines;
use crate::logging::RedactingStderr;

/// The variable that picks the log format: `json`, or text (anything else).
pub const LOG_FORMAT_VAR: &str = "CREEL_LOG_FORMAT";

/// What [`Telemetry::install`] set up; keep it until the command ends.
#[must_use = "shut it down after the drain, or buffered spans are lost"]
#[derive(Debug, Default)]
pub struct Telemetry {
    tracer: Option<SdkTracerProvider>,
}

/// What is traced: creel's crates at INFO (their spans are the ones the conventions name).
const TRACED: &str = "off,creel=info,creel_api=info,creel_queue=info,creel_jobs=info,\
                      creel_vendors=info,creel_storage=info,creel_limiter=info";

type BoxedLayer = Box<dyn Layer<Registry> + Send + Sync>;

impl Telemetry {
    /// Installs the global subscriber for the command named `command` (its default service
    /// name is `creel-<command>`): logs filtered by `log_filter`, and spans to OTLP if
    /// `config` (or the environment) names an endpoint. Must run inside the tokio runtime: the
    /// gRPC exporter is built on it.
    pub fn install(
        config: Option<&TelemetryConfig>,
        command: &str,
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
        let tracer = tracer_provider(config, command)?;
        let spans: Option<BoxedLayer> = tracer.as_ref().map(|p| {
            tracing_opentelemetry::layer()
                .with_tracer(p.tracer("creel"))
                // creel's own spans; the log filter does not decide what is traced.
                .with_filter(EnvFilter::new(TRACED))
                .boxed()
        });
        let layers: Vec<BoxedLayer> = std::iter::once(logs).chain(spans).collect();
        tracing_subscriber::registry()
            .with(layers)
            .try_init()
            .context("installing the tracing subscriber")?;
        Ok(Self { tracer })
    }

    /// Whether spans are exported.
    #[must_use]
    pub fn exporting(&self) -> bool {
        self.tracer.is_some()
    }

    /// Flushes and shuts down the exporter (blocking work, off the async threads).
    pub async fn shutdown(self) {
        if let Some(p) = self.tracer {
            let done = tokio::task::spawn_blocking(move || p.shutdown()).await;
            if let Ok(Err(e)) = done {
                eprintln!("telemetry: flushing spans failed: {e}");
            }
        }
    }
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

/// The tracer provider, or `None` when no endpoint is configured.
fn tracer_provider(
    config: &TelemetryConfig,
    command: &str,
) -> anyhow::Result<Option<SdkTracerProvider>> {
    let Some(endpoint) = endpoint(config) else {
        return Ok(None);
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint.clone())
        .build()
        .with_context(|| format!("telemetry.endpoint {endpoint:?}"))?;
    let mut resource = Resource::builder();
    // OTEL_SERVICE_NAME (read by the default detectors) wins over creel's default name.
    if let Some(name) = config.service_name.clone() {
        resource = resource.with_service_name(name);
    } else if std::env::var("OTEL_SERVICE_NAME").is_err() {
        resource = resource.with_service_name(format!("creel-{command}"));
    }
    let resource = resource
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
        .build();
    let mut builder = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource);
    // Without a configured sampler the SDK reads OTEL_TRACES_SAMPLER(_ARG) itself.
    if let Some(sampler) = sampler(config) {
        builder = builder.with_sampler(sampler);
    }
    Ok(Some(builder.build()))
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
