//! The command line, as clap parses it.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// creel: classroom-video job orchestration on Redis.
#[derive(Parser)]
#[command(version, about, long_about = None)]
pub(crate) struct Cli {
    /// The TOML config file (every field may also be set as CREEL_<SECTION>__<FIELD>).
    #[arg(long, global = true, env = "CREEL_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
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
    /// Vendor accounts: what they spent, and their budgets.
    #[command(subcommand)]
    Accounts(AccountsCommand),
    /// Backfill: archive every past lesson of an account into a storage profile (enqueues an
    /// `archive.scan` job; with --dry-run, prints what it would archive and what that costs).
    Archive(ArchiveArgs),
    /// Configuration tools.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Storage maintenance.
    #[command(subcommand)]
    Storage(StorageCommand),
    /// Move a single Redis's data from the key layout before Redis Cluster support to today's
    /// (every creel process stopped first). Safe to run again; a no-op on migrated data.
    Migrate,
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
pub(crate) enum VendorCommand {
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
pub(crate) enum StorageCommand {
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
pub(crate) struct SimArgs {
    /// Listen address.
    #[arg(long, default_value = "127.0.0.1:9400")]
    pub(crate) listen: std::net::SocketAddr,
    /// A simulator config (TOML: speed, accounts, step_secs, video_bytes, …).
    #[arg(long)]
    pub(crate) sim_config: Option<PathBuf>,
}

#[derive(clap::Args)]
pub(crate) struct EnqueueArgs {
    /// The job kind, e.g. `download`.
    #[arg(long)]
    pub(crate) kind: String,
    /// The payload, a JSON object.
    #[arg(long, default_value = "{}")]
    pub(crate) payload: String,
    /// The queue.
    #[arg(long, default_value = creel_core::DEFAULT_QUEUE)]
    pub(crate) queue: String,
    /// The vendor account.
    #[arg(long)]
    pub(crate) account: Option<String>,
    /// Dedupe key: the same key returns the first job.
    #[arg(long)]
    pub(crate) idempotency_key: Option<String>,
    /// Run no earlier than this RFC 3339 time.
    #[arg(long)]
    pub(crate) run_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Webhook URL for the completion event (must be allow-listed).
    #[arg(long)]
    pub(crate) webhook: Option<String>,
    /// The principal that owns the job (an API token's name makes it visible to that token).
    #[arg(long, default_value = "cli")]
    pub(crate) owner: String,
}

#[derive(clap::Args)]
pub(crate) struct ArchiveArgs {
    /// The vendor account.
    #[arg(long)]
    pub(crate) account: String,
    /// What to walk: baijiayun_vod, baijiayun_playback or plaso_records.
    #[arg(long, alias = "kind")]
    pub(crate) source: creel_jobs::archive::LessonSource,
    /// Lessons made on or after this (YYYY-MM-DD or "YYYY-MM-DD HH:MM:SS", in
    /// costs.utc_offset_minutes).
    #[arg(long)]
    pub(crate) since: String,
    /// Lessons made on or before this (default: now).
    #[arg(long)]
    pub(crate) until: Option<String>,
    /// The storage profile to archive into.
    #[arg(long)]
    pub(crate) deliver: String,
    /// The object key template (over {lesson}, {index}, {account}, {date}, {kind}).
    #[arg(long)]
    pub(crate) key: Option<String>,
    /// plaso_records: a file of record ids, one per line.
    #[arg(long)]
    pub(crate) records: Option<PathBuf>,
    /// At most this many archive jobs unfinished at once (default archive.max_in_flight).
    #[arg(long)]
    pub(crate) max_in_flight: Option<u32>,
    /// The queue.
    #[arg(long, default_value = creel_core::DEFAULT_QUEUE)]
    pub(crate) queue: String,
    /// The principal that owns the scan and its jobs.
    #[arg(long, default_value = "cli")]
    pub(crate) owner: String,
    /// Walk the vendor's lists here and print what would be archived, its estimated cost and
    /// traffic, and whether it fits the budgets; enqueue nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
}

#[derive(Subcommand)]
pub(crate) enum JobsCommand {
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
pub(crate) enum QueueCommand {
    /// Stop workers from starting jobs of this queue.
    Pause { name: String },
    /// Let workers take jobs of this queue again.
    Resume { name: String },
}

#[derive(Subcommand)]
pub(crate) enum AccountsCommand {
    /// Cost, vendor traffic and billed quantities per day, with the budget and what today and
    /// this month used of it.
    Usage {
        /// The vendor account's name in the config.
        account: String,
        /// The first day, YYYY-MM-DD (default: 29 days before --to).
        #[arg(long)]
        from: Option<String>,
        /// The last day, YYYY-MM-DD (default: today, in costs.utc_offset_minutes).
        #[arg(long)]
        to: Option<String>,
    },
    /// Budgets set at run time, over the configured ones.
    #[command(subcommand)]
    Budget(BudgetCommand),
}

#[derive(Subcommand)]
pub(crate) enum BudgetCommand {
    /// Sets limits of an account's budget for the whole fleet at once (a number, or `none` to
    /// lift the limit), then wakes the jobs waiting for a budget so each checks again.
    Set {
        /// The vendor account's name in the config.
        account: String,
        /// Most spent per day, in the account's currency.
        #[arg(long)]
        daily: Option<creel::budget_cli::Limit<f64>>,
        /// Most spent per month.
        #[arg(long)]
        monthly: Option<creel::budget_cli::Limit<f64>>,
        /// Most vendor traffic per day, in bytes.
        #[arg(long)]
        daily_traffic_bytes: Option<creel::budget_cli::Limit<u64>>,
        /// Most vendor traffic per month, in bytes.
        #[arg(long)]
        monthly_traffic_bytes: Option<creel::budget_cli::Limit<u64>>,
    },
}

#[derive(Subcommand)]
pub(crate) enum ConfigCommand {
    /// Load the configuration and print it as it takes effect, secrets as ***.
    Check,
}
