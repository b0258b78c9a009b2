//! `[telemetry]`: where traces and metrics go (OTLP over gRPC; Prometheus text on `/metrics`),
//! what the service is called, how traces are sampled, and whether a job's steps join its
//! caller's trace or link to it. The standard
//! `OTEL_*` variables work too; a field set here wins over its variable.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::ConfigError;

/// `[telemetry]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// The OTLP/gRPC endpoint, e.g. `http://otel-collector:4317`. Unset: the
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` variable; neither: nothing is exported.
    pub endpoint: Option<String>,
    /// `service.name` (default: `OTEL_SERVICE_NAME`, else `creel-<command>`).
    pub service_name: Option<String>,
    /// More resource attributes (beside those of `OTEL_RESOURCE_ATTRIBUTES`).
    pub resource_attributes: BTreeMap<String, String>,
    /// The sampler: `always_on`, `always_off`, `traceidratio`, `parentbased_always_on`,
    /// `parentbased_always_off`, `parentbased_traceidratio` (default: `OTEL_TRACES_SAMPLER`,
    /// else `parentbased_always_on`).
    pub sampler: Option<String>,
    /// The ratio of the `*traceidratio` samplers (default: `OTEL_TRACES_SAMPLER_ARG`, else 1).
    pub sampler_arg: Option<f64>,
    /// How a job step's `process` span relates to the span that enqueued the job: `link` (its
    /// own trace, linked: the default of the messaging conventions) or `parent` (one trace from
    /// the caller's request to the stored object).
    pub job_parent: JobParent,
    /// Where a worker serves its metrics as Prometheus text (`GET /metrics`), e.g.
    /// `0.0.0.0:9464`; unset: it serves none (the API always serves `/metrics` on its own
    /// listener).
    pub metrics_listen: Option<String>,
    /// How often the API reads the queue gauges (`creel.queue.*`) from Redis, in seconds.
    pub gauge_interval_secs: u64,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            endpoint: None,
            service_name: None,
            resource_attributes: BTreeMap::new(),
            sampler: None,
            sampler_arg: None,
            job_parent: JobParent::default(),
            metrics_listen: None,
            gauge_interval_secs: 15,
        }
    }
}

/// See [`TelemetryConfig::job_parent`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobParent {
    /// A link to the enqueue span.
    #[default]
    Link,
    /// The enqueue span is the parent.
    Parent,
}

/// The samplers [`TelemetryConfig::sampler`] accepts.
pub const SAMPLERS: [&str; 6] = [
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
];

impl TelemetryConfig {
    /// Checks what serde cannot; the error names the field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(s) = &self.sampler
            && !SAMPLERS.contains(&s.as_str())
        {
            return Err(ConfigError::invalid(
                "telemetry.sampler",
                format!("{s:?} is not one of {}", SAMPLERS.join(", ")),
            ));
        }
        if let Some(r) = self.sampler_arg
            && !(0.0..=1.0).contains(&r)
        {
            return Err(ConfigError::invalid(
                "telemetry.sampler_arg",
                format!("{r} is not within 0..=1"),
            ));
        }
        if let Some(e) = &self.endpoint
            && !(e.starts_with("http://") || e.starts_with("https://"))
        {
            return Err(ConfigError::invalid(
                "telemetry.endpoint",
                format!("{e:?} must be an http:// or https:// URL"),
            ));
        }
        if let Some(a) = &self.metrics_listen
            && a.parse::<std::net::SocketAddr>().is_err()
        {
            return Err(ConfigError::invalid(
                "telemetry.metrics_listen",
                format!("{a:?} is not an address like 0.0.0.0:9464"),
            ));
        }
        if self.gauge_interval_secs == 0 {
            return Err(ConfigError::invalid(
                "telemetry.gauge_interval_secs",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_fields_are_named() {
        let bad = |edit: fn(&mut TelemetryConfig)| {
            let mut c = TelemetryConfig::default();
            edit(&mut c);
            c.validate().expect_err("invalid")
        };
        assert!(bad(|c| c.sampler = Some("sometimes".into())).field() == "telemetry.sampler");
        assert!(bad(|c| c.sampler_arg = Some(1.5)).field() == "telemetry.sampler_arg");
        assert!(
            bad(|c| c.endpoint = Some("collector:4317".into())).field() == "telemetry.endpoint"
        );
        TelemetryConfig::default()
            .validate()
            .expect("the default is valid");
    }
}
