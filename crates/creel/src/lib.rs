//! The creel binary's library half: loading config, and running the worker, the API server,
//! the stream intake, webhook delivery and the demo, so that tests drive exactly what the
//! binary runs.

pub mod api;
pub mod archive_cli;
pub mod budget_cli;
pub mod cleanup;
pub mod consumer;
pub mod demo;
pub mod http_trace;
pub mod intake;
pub mod json_log;
pub mod listener;
pub mod local_config;
pub mod logging;
pub mod queue_gauges;
pub mod retention;
pub mod samples;
pub mod settings;
pub mod shutdown;
pub mod sim;
pub mod span_metrics;
pub mod storage_cli;
pub mod telemetry;
pub mod vendor_cli;
pub mod vendor_params;
pub mod webhooks;
pub mod worker;
pub mod worker_health;
