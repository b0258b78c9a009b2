//! The `creel` command: worker, API server, operator CLI, demo.

mod cli;

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use creel::telemetry::Telemetry;

use cli::Invocation;
use cli::args::Cli;

/// jemalloc returns freed part buffers to the system; glibc's malloc kept them (its mmap
/// threshold adapts upwards), so a 1 GiB transfer peaked at 193 MiB instead of under 100.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Installs the process's telemetry (after loading the configuration, for the commands that
/// have one), runs the command, and flushes the telemetry after it (and its drain) ended.
async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let invocation = Invocation::of(cli.command);
    let log_filter = tracing_subscriber::EnvFilter::try_from_env("CREEL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(invocation.default_log()));
    let name = invocation.name();
    let (telemetry, result) = match invocation {
        // The demo and the simulator have no config file: their telemetry is the environment's.
        Invocation::Standalone(cmd) => {
            let telemetry = Telemetry::install(None, name, cmd.exposition(), log_filter)?;
            let result = cli::standalone(cmd, telemetry.metrics()).await;
            (telemetry, result)
        }
        Invocation::Configured(cmd) => {
            let config = Arc::new(creel::settings::load(cli.config.as_deref())?);
            let exposition = cmd.exposition(&config);
            let telemetry =
                Telemetry::install(Some(&config.telemetry), name, exposition, log_filter)?;
            let result = cli::configured(cmd, config, telemetry.metrics(), cli.json).await;
            (telemetry, result)
        }
    };
    telemetry.shutdown().await;
    result
}
