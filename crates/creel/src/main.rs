//! The `creel` command: worker, API server, operator CLI, demo.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use creel::telemetry::{Exposition, MetricsHandle, Telemetry};
use creel_core::{JobId, JobRequest, JobState, RequestValidator};
use creel_queue::Queue;
use tokio_util::sync::CancellationToken;

/// jemalloc returns freed part buffers to the system; glibc's malloc kept them (its mmap
/// threshold adapts upwards), so a 1 GiB transfer peaked at 193 MiB instead of under 100.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// creel: classroom-video job orchestration on Redis.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    /// The TOML config file (every field may also be set as CREEL_<SECTION>__<FIELD>).
    #[arg(long, global = true, env = "CREEL_CONFIG")]
    config: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run workers for the configured queues (and webhook delivery) until SIGTERM/SIGINT.
    Worker,
    /// Serve the HTTP API and the Redis-stream intake until SIGTERM/SIGINT.
    Api,
    /// Validate and enqueue one job.
    Enqueue(EnqueueArgs),
    /// Inspect and manage jobs.
    #[command(subcommand)]
    Jobs(JobsCommand),
    /// Pause or resume a queue.
    #[command(subcommand)]
    Queue(QueueCommand),
    /// Configuration tools.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Storage maintenance.
    #[command(subcommand)]
    Storage(StorageCommand),
    /// Run everything end to end on embedded defaults: a private redis-server, a local sample
    /// server, the API and a worker in one process; download jobs through the API; show
    /// progress, events and where the files landed.
    Demo,
    /// Vendor tools: print a signature's every intermediate, or make one signed call.
    #[command(subcommand)]
    Vendor(VendorCommand),
    /// Run the vendor simulator (Plaso, Baijiayun, WeClassroom on one port) until
    /// SIGTERM/SIGINT. Without --sim-config it has demo accounts and sample data.
    Sim(SimArgs),
}

#[derive(Subcommand)]
enum VendorCommand {
    /// Print the canonical string and signature (Plaso, Baijiayun) or the serialized params,
    /// value, mac and signMsg (WeClassroom) for the given parameters. `partner_id`/`appId` and
    /// the timestamp are added unless given.
    Sign {
        /// plaso, baijiayun or weclassroom.
        vendor: creel_core::config::Vendor,
        /// The account name from the config.
        #[arg(long)]
        account: String,
        /// WeClassroom: the 16-byte IV as 32 hex digits (default: random).
        #[arg(long)]
        iv: Option<String>,
        /// Print the secret inside the canonical string instead of ***.
        #[arg(long)]
        show_secret: bool,
        /// Parameters: key=value (text) or key:=json (numbers, arrays).
        params: Vec<creel::vendor_cli::Param>,
    },
    /// Make one signed call and print the answer and its classification (success,
    /// retryable, retry-after, permanent). Exits 1 unless it succeeded.
    Call {
        /// plaso, baijiayun or weclassroom.
        vendor: creel_core::config::Vendor,
        /// The endpoint name (e.g. get_video_task, vod_get_url, replay_url).
        endpoint: String,
        /// The account name from the config.
        #[arg(long)]
        account: String,
        /// Parameters: key=value (text) or key:=json (numbers, arrays).
        params: Vec<creel::vendor_cli::Param>,
        /// The longest this call waits for a quota slot (saying so on stderr) before it gives
        /// up; on a fresh Redis the first slot of a quota is one window away.
        #[arg(long, default_value_t = 300)]
        max_wait_secs: u64,
    },
}

#[derive(Subcommand)]
enum StorageCommand {
    /// Abort multipart uploads (or delete a directory's `.part` files) older than a cut-off
    /// that no live job's checkpoint names. Exits 1 if removing any of them failed.
    Sweep {
        /// The storage profile.
        profile: String,
        /// Only leftovers at least this old.
        #[arg(long, default_value_t = 24)]
        older_than_hours: u64,
        /// Report what would be removed; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(clap::Args)]
struct SimArgs {
    /// Listen address.
    #[arg(long, default_value = "127.0.0.1:9400")]
    listen: std::net::SocketAddr,
    /// A simulator config (TOML: speed, accounts, step_secs, video_bytes, …).
    #[arg(long)]
    sim_config: Option<PathBuf>,
}

#[derive(clap::Args)]
struct EnqueueArgs {
    /// The job kind, e.g. `download`.
    #[arg(long)]
    kind: String,
    /// The payload, a JSON object.
    #[arg(long, default_value = "{}")]
    payload: String,
    /// The queue.
    #[arg(long, default_value = creel_core::DEFAULT_QUEUE)]
    queue: String,
    /// The vendor account.
    #[arg(long)]
    account: Option<String>,
    /// Dedupe key: the same key returns the first job.
    #[arg(long)]
    idempotency_key: Option<String>,
    /// Run no earlier than this RFC 3339 time.
    #[arg(long)]
    run_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Webhook URL for the completion event (must be allow-listed).
    #[arg(long)]
    webhook: Option<String>,
    /// The principal that owns the job (an API token's name makes it visible to that token).
    #[arg(long, default_value = "cli")]
    owner: String,
}

#[derive(Subcommand)]
enum JobsCommand {
    /// Show one job.
    Get { id: String },
    /// List jobs of a queue in a state.
    List {
        /// scheduled, ready, running, succeeded, failed or cancelled.
        #[arg(long)]
        state: String,
        #[arg(long, default_value = creel_core::DEFAULT_QUEUE)]
        queue: String,
        /// Only this kind.
        #[arg(long)]
        kind: Option<String>,
        /// The previous page's next_cursor.
        #[arg(long)]
        cursor: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Follow a job until it ends; exit 0 if it succeeded, 1 if it failed, 2 if cancelled.
    Watch { id: String },
    /// Cancel a job (at once if queued, at its next step boundary if running).
    Cancel { id: String },
    /// Run a failed or cancelled job again.
    Retry { id: String },
    /// Counts per state of every queue.
    Counts,
}

#[derive(Subcommand)]
enum QueueCommand {
    /// Stop workers from starting jobs of this queue.
    Pause { name: String },
    /// Let workers take jobs of this queue again.
    Resume { name: String },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Load the configuration and print it as it takes effect, secrets as ***.
    Check,
}

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

fn default_log(cmd: &Command) -> &'static str {
    match cmd {
        Command::Worker | Command::Api => "info",
        _ => "warn",
    }
}

/// The command's name in its default `service.name` (`creel-<name>`).
fn command_name(cmd: &Command) -> &'static str {
    match cmd {
        Command::Worker => "worker",
        Command::Api => "api",
        Command::Demo => "demo",
        Command::Sim(_) => "sim",
        _ => "cli",
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let log_filter = tracing_subscriber::EnvFilter::try_from_env("CREEL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_log(&cli.command)));
    let name = command_name(&cli.command);
    // The demo and the simulator have no config file: their telemetry is the environment's.
    let config = match &cli.command {
        Command::Demo | Command::Sim(_) => None,
        _ => Some(Arc::new(creel::settings::load(cli.config.as_deref())?)),
    };
    // The API serves /metrics always, a worker only on telemetry.metrics_listen, and the demo
    // on its API.
    let exposition = match (&cli.command, &config) {
        (Command::Api | Command::Demo, _) => Exposition::Prometheus,
        (Command::Worker, Some(c)) if c.telemetry.metrics_listen.is_some() => {
            Exposition::Prometheus
        }
        _ => Exposition::Nothing,
    };
    let telemetry = Telemetry::install(
        config.as_deref().map(|c| &c.telemetry),
        name,
        exposition,
        log_filter,
    )?;
    let metrics = telemetry.metrics();
    let result = match config {
        None => run_without_config(cli, metrics).await,
        Some(config) => run_command(cli, config, metrics).await,
    };
    // After the drain: what the steps' last spans recorded is flushed before the exit.
    telemetry.shutdown().await;
    result
}

async fn run_without_config(cli: Cli, metrics: MetricsHandle) -> anyhow::Result<ExitCode> {
    if let Command::Sim(a) = &cli.command {
        let config = creel::sim::load_config(a.sim_config.as_deref())?;
        creel::sim::run(a.listen, config, stop_on_signal()).await?;
        return Ok(ExitCode::SUCCESS);
    }
    creel::demo::run(metrics).await.map(|()| ExitCode::SUCCESS)
}

/// Serves `app` on `addr` (named by `field` in errors) until `stop`.
async fn serve(
    addr: &str,
    field: &str,
    app: axum::Router,
    stop: &CancellationToken,
) -> anyhow::Result<tokio::task::JoinHandle<std::io::Result<()>>> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("{field} {addr}"))?;
    tracing::info!(%addr, field, "serving");
    let stopping = stop.clone();
    Ok(tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(stopping.cancelled_owned())
            .await
    }))
}

async fn run_command(
    cli: Cli,
    config: Arc<creel_core::Config>,
    metrics: MetricsHandle,
) -> anyhow::Result<ExitCode> {
    if let Command::Config(ConfigCommand::Check) = cli.command {
        out(&toml::to_string_pretty(config.as_ref())?);
        return Ok(ExitCode::SUCCESS);
    }
    if let Command::Vendor(cmd) = cli.command {
        return vendor(cmd, &config, cli.json).await;
    }
    let queue = Queue::connect(creel::settings::queue_config(&config))
        .await
        .with_context(|| format!("connecting to redis at {}", config.redis.display_url()))?;
    let json = cli.json;
    match cli.command {
        Command::Worker => {
            let stop = stop_on_signal();
            let health = creel_queue::WorkerHealth::default();
            // The probes and /metrics answer through the drain; they stop after it.
            let drained = CancellationToken::new();
            let mut servers = Vec::new();
            let probes = config.worker.health_listen.as_deref();
            let metrics_at = config.telemetry.metrics_listen.as_deref();
            if let Some(addr) = probes {
                let mut app = creel::worker_health::router(health.clone());
                if metrics_at == Some(addr) {
                    app = app.merge(creel::api::metrics_route(metrics.clone()));
                }
                servers.push(serve(addr, "worker.health_listen", app, &drained).await?);
            }
            if let Some(addr) = metrics_at.filter(|a| Some(*a) != probes) {
                let app = creel::api::metrics_route(metrics);
                servers.push(serve(addr, "telemetry.metrics_listen", app, &drained).await?);
            }
            let ran = creel::worker::run_with(config, queue, health, stop).await;
            drained.cancel();
            ran?;
            for server in servers {
                let _ = server.await;
            }
        }
        Command::Api => {
            let listener = tokio::net::TcpListener::bind(&config.api.listen)
                .await
                .with_context(|| format!("listening on {}", config.api.listen))?;
            let stop = stop_on_signal();
            creel::api::serve(config, queue, listener, metrics, stop).await?;
        }
        Command::Enqueue(a) => {
            let payload = serde_json::from_str(&a.payload).context("--payload is not JSON")?;
            let request = JobRequest {
                queue: a.queue,
                account: a.account,
                idempotency_key: a.idempotency_key,
                run_at: a.run_at,
                webhook: a.webhook,
                created_by: Some(a.owner),
                ..JobRequest::new(a.kind, payload)
            };
            creel_jobs::Validator::new(Arc::clone(&config))
                .validate(&request)
                .map_err(|e| anyhow::format_err!("invalid request: {e}"))?;
            let e = queue.enqueue(request).await?;
            print_value(
                json,
                &serde_json::to_value(&e)?,
                &format!(
                    "{} {}",
                    e.id,
                    if e.created {
                        "enqueued"
                    } else {
                        "already exists"
                    }
                ),
            );
        }
        Command::Jobs(cmd) => return jobs(cmd, &queue, json).await,
        Command::Storage(StorageCommand::Sweep {
            profile,
            older_than_hours,
            dry_run,
        }) => {
            let mode = if dry_run {
                creel::storage_cli::SweepMode::DryRun
            } else {
                creel::storage_cli::SweepMode::Remove
            };
            let older_than = Duration::from_secs(older_than_hours.saturating_mul(3600));
            let swept =
                creel::storage_cli::sweep(&config, &queue, &profile, older_than, mode).await?;
            for s in &swept {
                let line = format!(
                    "{}\t{}\t{}\t{} h{}",
                    s.verdict,
                    s.key,
                    s.upload_id,
                    s.age_hours,
                    s.error
                        .as_deref()
                        .map(|e| format!("\t{e}"))
                        .unwrap_or_default()
                );
                print_value(json, &serde_json::to_value(s)?, &line);
            }
            if swept
                .iter()
                .any(|s| s.verdict == creel::storage_cli::Verdict::Failed)
            {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Queue(QueueCommand::Pause { name }) => {
            queue.pause(&name).await?;
            print_value(
                json,
                &serde_json::json!({"queue": name, "paused": true}),
                &format!("{name} paused"),
            );
        }
        Command::Queue(QueueCommand::Resume { name }) => {
            queue.resume(&name).await?;
            print_value(
                json,
                &serde_json::json!({"queue": name, "paused": false}),
                &format!("{name} resumed"),
            );
        }
        Command::Config(_) | Command::Demo | Command::Vendor(_) | Command::Sim(_) => {
            unreachable!("handled above")
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn vendor(
    cmd: VendorCommand,
    config: &creel_core::Config,
    json: bool,
) -> anyhow::Result<ExitCode> {
    match cmd {
        VendorCommand::Sign {
            vendor,
            account,
            iv,
            show_secret,
            params,
        } => {
            let iv = iv
                .map(|h| {
                    let bytes = hex::decode(&h).context("--iv must be hex")?;
                    <[u8; 16]>::try_from(bytes.as_slice())
                        .map_err(|_| anyhow::format_err!("--iv must be 16 bytes (32 hex digits)"))
                })
                .transpose()?;
            let display = if show_secret {
                creel::vendor_cli::SecretDisplay::Shown
            } else {
                creel::vendor_cli::SecretDisplay::Masked
            };
            let v = creel::vendor_cli::sign(config, vendor, &account, &params, iv, display)?;
            print_value(json, &v, &serde_json::to_string_pretty(&v)?);
            Ok(ExitCode::SUCCESS)
        }
        VendorCommand::Call {
            vendor,
            endpoint,
            account,
            params,
            max_wait_secs,
        } => {
            let (answer, class) = creel::vendor_cli::call(
                config,
                vendor,
                &endpoint,
                &account,
                &params,
                std::time::Duration::from_secs(max_wait_secs),
            )
            .await?;
            let v = serde_json::json!({"classification": class.to_string(), "answer": answer});
            print_value(
                json,
                &v,
                &format!("{class}\n{}", serde_json::to_string_pretty(&answer)?),
            );
            Ok(if class == creel_vendors::Classification::Success {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}

async fn jobs(cmd: JobsCommand, queue: &Queue, json: bool) -> anyhow::Result<ExitCode> {
    let id_of = |s: &str| s.parse::<JobId>().map_err(|e| anyhow::format_err!("{e}"));
    match cmd {
        JobsCommand::Get { id } => {
            let rec = queue
                .get(&id_of(&id)?)
                .await?
                .with_context(|| format!("no job {id}"))?
                .redacted();
            print_value(
                json,
                &serde_json::to_value(&rec)?,
                &serde_json::to_string_pretty(&rec)?,
            );
        }
        JobsCommand::List {
            state,
            queue: q,
            kind,
            cursor,
            limit,
        } => {
            let state: JobState = state.parse()?;
            let mut page = queue.list(&q, state, cursor.as_deref(), limit).await?;
            if let Some(k) = kind {
                page.jobs.retain(|j| j.kind == k);
            }
            page.jobs = page.jobs.into_iter().map(|j| j.redacted()).collect();
            let mut text = String::new();
            for j in &page.jobs {
                text.push_str(&format!(
                    "{}  {:<10} {:<12} attempts={} {}\n",
                    j.id,
                    j.state,
                    j.kind,
                    j.attempts,
                    j.last_error.as_deref().unwrap_or("")
                ));
            }
            if let Some(c) = &page.next_cursor {
                text.push_str(&format!("next page: --cursor {c}\n"));
            }
            print_value(json, &serde_json::to_value(&page)?, text.trim_end());
        }
        JobsCommand::Watch { id } => return watch(queue, &id_of(&id)?, json).await,
        JobsCommand::Cancel { id } => {
            let outcome = queue.cancel(&id_of(&id)?).await?;
            print_value(
                json,
                &serde_json::json!({"id": id, "outcome": outcome}),
                &format!("{id}: {outcome:?}"),
            );
        }
        JobsCommand::Retry { id } => {
            queue.requeue(&id_of(&id)?).await?;
            print_value(
                json,
                &serde_json::json!({"id": id, "requeued": true}),
                &format!("{id} requeued"),
            );
        }
        JobsCommand::Counts => {
            let mut all = Vec::new();
            let mut text = String::new();
            for name in queue.queues().await? {
                let c = queue.counts(&name).await?;
                let per: Vec<String> = c.counts.iter().map(|(s, n)| format!("{s}={n}")).collect();
                text.push_str(&format!(
                    "{name}{}: {}\n",
                    if c.paused { " (paused)" } else { "" },
                    per.join(" ")
                ));
                all.push(c);
            }
            print_value(json, &serde_json::to_value(&all)?, text.trim_end());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Follows a job with a progress bar (or JSON lines) and exits with its outcome.
async fn watch(queue: &Queue, id: &JobId, json: bool) -> anyhow::Result<ExitCode> {
    let bar = indicatif::ProgressBar::new(0);
    if json {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg:30} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut last_state = None;
    loop {
        let rec = queue
            .get(id)
            .await?
            .with_context(|| format!("no job {id}"))?
            .redacted();
        if let Some(p) = &rec.progress {
            if let Some(t) = p["total"].as_u64() {
                bar.set_length(t);
            }
            bar.set_position(p["bytes"].as_u64().unwrap_or(0));
        }
        bar.set_message(format!("{} {}", rec.kind, rec.state));
        if json && last_state != Some(rec.state) {
            out(&serde_json::to_string(&rec)?);
        }
        last_state = Some(rec.state);
        if rec.state.is_terminal() {
            bar.finish();
            if !json {
                out(&format!(
                    "{id} {}{}",
                    rec.state,
                    rec.last_error.map(|e| format!(": {e}")).unwrap_or_default()
                ));
            }
            return Ok(match rec.state {
                JobState::Succeeded => ExitCode::SUCCESS,
                JobState::Failed => ExitCode::from(1),
                _ => ExitCode::from(2),
            });
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn stop_on_signal() -> CancellationToken {
    let stop = CancellationToken::new();
    let s = stop.clone();
    tokio::spawn(async move {
        creel::shutdown::signal().await;
        tracing::info!("shutdown signal received");
        s.cancel();
    });
    stop
}

fn print_value(json: bool, value: &serde_json::Value, text: &str) {
    if json {
        out(&value.to_string());
    } else {
        out(text);
    }
}

#[allow(clippy::print_stdout)]
fn out(line: &str) {
    println!("{line}");
}
