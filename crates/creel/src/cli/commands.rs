//! Dispatch: each command is a [`Standalone`] one (no configuration: the demo, the simulator)
//! or a [`Configured`] one, and each configured command connects to the queue only if it
//! needs it.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use creel::telemetry::{Exposition, MetricsHandle};
use creel_core::{Config, JobRequest, RequestValidator};
use creel_queue::Queue;
use tokio_util::sync::CancellationToken;

use super::args::{
    AccountsCommand, ArchiveArgs, BudgetCommand, Command, ConfigCommand, EnqueueArgs, JobsCommand,
    QueueCommand, SimArgs, StorageCommand, VendorCommand,
};
use super::output::{out, print_value, stop_on_signal};

/// A parsed command, by what it needs before it runs.
pub(crate) enum Invocation {
    /// Runs without a configuration file.
    Standalone(Standalone),
    /// Loads the configuration first.
    Configured(Configured),
}

/// The commands without a configuration file.
pub(crate) enum Standalone {
    /// `creel demo`.
    Demo,
    /// `creel sim`.
    Sim(SimArgs),
}

/// The commands that load the configuration.
pub(crate) enum Configured {
    /// `creel worker`.
    Worker,
    /// `creel api`.
    Api,
    /// `creel enqueue`.
    Enqueue(EnqueueArgs),
    /// `creel jobs …`.
    Jobs(JobsCommand),
    /// `creel queue …`.
    Queue(QueueCommand),
    /// `creel accounts …`.
    Accounts(AccountsCommand),
    /// `creel archive`.
    Archive(ArchiveArgs),
    /// `creel storage …`.
    Storage(StorageCommand),
    /// `creel vendor …`.
    Vendor(VendorCommand),
    /// `creel config check`.
    ConfigCheck,
    /// `creel migrate`.
    Migrate,
}

impl Invocation {
    /// Sorts a parsed command.
    pub(crate) fn of(command: Command) -> Self {
        match command {
            Command::Demo => Self::Standalone(Standalone::Demo),
            Command::Sim(a) => Self::Standalone(Standalone::Sim(a)),
            Command::Worker => Self::Configured(Configured::Worker),
            Command::Api => Self::Configured(Configured::Api),
            Command::Enqueue(a) => Self::Configured(Configured::Enqueue(a)),
            Command::Jobs(c) => Self::Configured(Configured::Jobs(c)),
            Command::Queue(c) => Self::Configured(Configured::Queue(c)),
            Command::Accounts(c) => Self::Configured(Configured::Accounts(c)),
            Command::Archive(a) => Self::Configured(Configured::Archive(a)),
            Command::Storage(c) => Self::Configured(Configured::Storage(c)),
            Command::Vendor(c) => Self::Configured(Configured::Vendor(c)),
            Command::Config(ConfigCommand::Check) => Self::Configured(Configured::ConfigCheck),
            Command::Migrate => Self::Configured(Configured::Migrate),
        }
    }

    /// The log level without `CREEL_LOG`: servers say what they do, tools only what is wrong.
    pub(crate) fn default_log(&self) -> &'static str {
        match self {
            Self::Configured(Configured::Worker | Configured::Api) => "info",
            _ => "warn",
        }
    }

    /// The command's name in its default `service.name` (`creel-<name>`).
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Self::Configured(Configured::Worker) => "worker",
            Self::Configured(Configured::Api) => "api",
            Self::Standalone(Standalone::Demo) => "demo",
            Self::Standalone(Standalone::Sim(_)) => "sim",
            Self::Configured(_) => "cli",
        }
    }
}

impl Standalone {
    /// The demo serves `/metrics` on its API; the simulator serves none.
    pub(crate) fn exposition(&self) -> Exposition {
        match self {
            Self::Demo => Exposition::Prometheus,
            Self::Sim(_) => Exposition::Nothing,
        }
    }
}

impl Configured {
    /// The API serves `/metrics` always, a worker only on `telemetry.metrics_listen`.
    pub(crate) fn exposition(&self, config: &Config) -> Exposition {
        match self {
            Self::Api => Exposition::Prometheus,
            Self::Worker if config.telemetry.metrics_listen.is_some() => Exposition::Prometheus,
            _ => Exposition::Nothing,
        }
    }
}

/// Runs a command without a configuration file.
pub(crate) async fn standalone(
    cmd: Standalone,
    metrics: MetricsHandle,
) -> anyhow::Result<ExitCode> {
    match cmd {
        Standalone::Sim(a) => {
            let config = creel::sim::load_config(a.sim_config.as_deref())?;
            creel::sim::run(a.listen, config, stop_on_signal()).await?;
        }
        Standalone::Demo => creel::demo::run(metrics).await?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs a command with its configuration.
pub(crate) async fn configured(
    cmd: Configured,
    config: Arc<Config>,
    metrics: MetricsHandle,
    json: bool,
) -> anyhow::Result<ExitCode> {
    match cmd {
        Configured::ConfigCheck => {
            out(&toml::to_string_pretty(config.as_ref())?);
            Ok(ExitCode::SUCCESS)
        }
        Configured::Migrate => {
            let moved = creel_queue::migrate(&creel::settings::queue_config(&config))
                .await
                .with_context(|| format!("migrating {}", config.redis.display_url()))?;
            if json {
                out(&serde_json::to_string(&moved)?);
            } else {
                out(&format!(
                    "migrated: {} queues, {} jobs, {} child sets, {} signal keys, {} limiter keys",
                    moved.queues, moved.jobs, moved.children, moved.signals, moved.limiter
                ));
            }
            Ok(ExitCode::SUCCESS)
        }
        Configured::Vendor(cmd) => vendor(cmd, &config, json).await,
        Configured::Worker => worker(config, metrics).await,
        Configured::Api => {
            let queue = connect(&config).await?;
            let listener = tokio::net::TcpListener::bind(&config.api.listen)
                .await
                .with_context(|| format!("listening on {}", config.api.listen))?;
            let stop = stop_on_signal();
            creel::api::serve(config, queue, listener, metrics, stop).await?;
            Ok(ExitCode::SUCCESS)
        }
        Configured::Enqueue(a) => enqueue(a, &config, json).await,
        Configured::Jobs(cmd) => super::jobs::jobs(cmd, &connect(&config).await?, json).await,
        Configured::Queue(cmd) => pause_or_resume(cmd, &connect(&config).await?, json).await,
        Configured::Accounts(cmd) => accounts(cmd, &config, json).await,
        Configured::Archive(a) => archive(a, &config, json).await,
        Configured::Storage(StorageCommand::Sweep {
            profile,
            older_than_hours,
            dry_run,
        }) => {
            let queue = connect(&config).await?;
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
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The queue of `config`.
async fn connect(config: &Config) -> anyhow::Result<Queue> {
    Queue::connect(creel::settings::queue_config(config))
        .await
        .with_context(|| format!("connecting to redis at {}", config.redis.display_url()))
}

/// `creel worker`: the workers, with the probes and `/metrics` when configured.
async fn worker(config: Arc<Config>, metrics: MetricsHandle) -> anyhow::Result<ExitCode> {
    let queue = connect(&config).await?;
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
    Ok(ExitCode::SUCCESS)
}

/// `creel enqueue`: validated as the API validates.
async fn enqueue(a: EnqueueArgs, config: &Arc<Config>, json: bool) -> anyhow::Result<ExitCode> {
    let queue = connect(config).await?;
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
    creel_jobs::Validator::new(Arc::clone(config))
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
    Ok(ExitCode::SUCCESS)
}

/// `creel queue pause|resume`.
async fn pause_or_resume(cmd: QueueCommand, queue: &Queue, json: bool) -> anyhow::Result<ExitCode> {
    let (name, paused) = match cmd {
        QueueCommand::Pause { name } => {
            queue.pause(&name).await?;
            (name, true)
        }
        QueueCommand::Resume { name } => {
            queue.resume(&name).await?;
            (name, false)
        }
    };
    let done = if paused { "paused" } else { "resumed" };
    print_value(
        json,
        &serde_json::json!({"queue": name, "paused": paused}),
        &format!("{name} {done}"),
    );
    Ok(ExitCode::SUCCESS)
}

/// `creel archive`: enqueues the `archive.scan` job (validated as the API validates), or with
/// `--dry-run` walks the lists here and prints what it would do.
async fn archive(a: ArchiveArgs, config: &Arc<Config>, json: bool) -> anyhow::Result<ExitCode> {
    let record_ids = match &a.records {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("--records {}", path.display()))?
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_owned)
            .collect(),
        None => Vec::new(),
    };
    let spec = creel_jobs::archive::ArchiveScanSpec {
        source: a.source,
        since: a.since,
        until: a.until,
        record_ids,
        deliver: creel_jobs::classroom::Deliver {
            profile: a.deliver,
            key: a.key,
        },
        max_in_flight: a.max_in_flight,
    };
    let request = JobRequest {
        queue: a.queue,
        account: Some(a.account.clone()),
        created_by: Some(a.owner),
        ..JobRequest::new("archive.scan", serde_json::to_value(&spec)?)
    };
    creel_jobs::Validator::new(Arc::clone(config))
        .validate(&request)
        .map_err(|e| anyhow::format_err!("invalid request: {e}"))?;
    let queue = connect(config).await?;
    if a.dry_run {
        let run = creel::archive_cli::dry_run(config, &queue, &a.account, &spec).await?;
        let currency = queue
            .account_usage(&a.account, &config.costs, Vec::new())
            .await?
            .currency;
        print_value(
            json,
            &serde_json::to_value(&run)?,
            &creel::archive_cli::dry_run_text(&run, &currency),
        );
        return Ok(ExitCode::SUCCESS);
    }
    let e = queue.enqueue(request).await?;
    print_value(
        json,
        &serde_json::to_value(&e)?,
        &format!(
            "{} archive.scan enqueued; follow it with: creel jobs watch {}",
            e.id, e.id
        ),
    );
    Ok(ExitCode::SUCCESS)
}

/// `creel accounts usage|budget set`.
async fn accounts(cmd: AccountsCommand, config: &Config, json: bool) -> anyhow::Result<ExitCode> {
    let known = |account: &str| {
        if config.accounts.contains_key(account) {
            Ok(())
        } else {
            Err(anyhow::format_err!(
                "account: no vendor account named {account:?} is configured"
            ))
        }
    };
    match cmd {
        AccountsCommand::Usage { account, from, to } => {
            known(&account)?;
            let days = config
                .costs
                .calendar()
                .range(
                    from.as_deref(),
                    to.as_deref(),
                    creel_queue::MAX_USAGE_DAYS,
                    chrono::Utc::now(),
                )
                .map_err(|(field, reason)| anyhow::format_err!("--{field}: {reason}"))?;
            let usage = connect(config)
                .await?
                .account_usage(&account, &config.costs, days)
                .await?;
            print_value(
                json,
                &serde_json::to_value(&usage)?,
                &creel::budget_cli::usage_text(&usage),
            );
        }
        AccountsCommand::Budget(BudgetCommand::Set {
            account,
            daily,
            monthly,
            daily_traffic_bytes,
            monthly_traffic_bytes,
        }) => {
            known(&account)?;
            let change = creel_queue::BudgetOverride {
                daily: daily.map(|l| l.0),
                monthly: monthly.map(|l| l.0),
                daily_traffic_bytes: daily_traffic_bytes.map(|l| l.0),
                monthly_traffic_bytes: monthly_traffic_bytes.map(|l| l.0),
            };
            if change == creel_queue::BudgetOverride::default() {
                anyhow::bail!(
                    "give at least one of --daily, --monthly, --daily-traffic-bytes, --monthly-traffic-bytes"
                );
            }
            let queue = connect(config).await?;
            let woken = queue.set_budget(&account, &change).await?;
            let budget = queue
                .budget_override(&account)
                .await?
                .apply(&config.costs.budget(&account));
            print_value(
                json,
                &serde_json::json!({"account": account, "budget": budget, "woken": woken}),
                &format!("{account}: budget set; {woken} waiting jobs woken"),
            );
        }
    }
    Ok(ExitCode::SUCCESS)
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

async fn vendor(cmd: VendorCommand, config: &Config, json: bool) -> anyhow::Result<ExitCode> {
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
