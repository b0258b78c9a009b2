//! The `creel` binary as a process: its CLI, SIGTERM, worker probes through a Redis outage,
//! a hardened container's restrictions, secrets in every output channel, telemetry across
//! processes and the vendor debugger. One test binary with a module per area; the scaling test
//! (`tests/scaling.rs`) stays a binary of its own, as it times a fleet of processes and should
//! not share the machine with these.

#[path = "../support/mod.rs"]
mod support;

mod cli;
mod hardened_process;
mod security_secrets;
mod sigterm;
mod telemetry_processes;
mod vendor_cli;
mod worker_probes;
