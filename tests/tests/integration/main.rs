//! creel's integration, end-to-end and security tests: one test binary (one link, one copy on
//! disk) with a module per area. Every test starts its own redis-server (and whatever else it
//! needs), so tests in different modules share nothing but the machine. The telemetry tests
//! install the process-wide tracing subscriber, so each of them is a test binary of its own
//! (`tests/tests/telemetry*.rs`).

mod api_e2e;
mod architecture;
mod backfill;
mod budgets;
mod chaos;
mod classroom;
mod cluster;
mod deploy_manifests;
mod download_s3;
mod download_vendor;
mod limiter;
mod migration;
mod oss;
mod properties;
mod queue_basics;
mod queue_operations;
mod queue_prefetch;
mod queue_recovery;
mod queue_regressions;
mod replication;
mod resume_s3;
mod security_callbacks;
mod security_downloads;
mod security_growth;
mod security_http;
mod security_ssrf;
mod security_tenancy;
mod security_webhooks;
mod sentinel;
mod sink_conformance;
mod vendors;
mod webhook_deliveries;
