//! creel's own telemetry, set up the way the telemetry tests and the queue bench want it:
//! every span sampled and exported over OTLP/gRPC to one collector, logs at WARN.

use creel::telemetry::{Exposition, Telemetry};
use creel_core::telemetry::TelemetryConfig;

/// Installs the process's subscriber, exporting every span to `endpoint`. Call once per
/// process, inside the tokio runtime.
///
/// # Panics
/// If a subscriber is installed already or the endpoint is not a URL.
pub fn export_all_to(endpoint: String, exposition: Exposition) -> Telemetry {
    Telemetry::install(
        Some(&TelemetryConfig {
            endpoint: Some(endpoint),
            sampler: Some("always_on".into()),
            ..TelemetryConfig::default()
        }),
        "test",
        exposition,
        tracing_subscriber::EnvFilter::new("warn"),
    )
    .expect("installing telemetry")
}
