//! `creel worker` processes for tests that kill them with SIGKILL: spawn them on one config
//! file (their stderr appended to `<config>.log`), kill one, and kill what is left on drop; and
//! the head of such a config file.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Worker processes running `binary` (the tests' `creel-worker`) on one config file.
#[derive(Debug)]
pub struct WorkerProcesses {
    binary: PathBuf,
    config: PathBuf,
    procs: Vec<Child>,
}

impl WorkerProcesses {
    /// None yet; `binary` is `env!("CARGO_BIN_EXE_creel-worker")` of the calling test.
    #[must_use]
    pub fn new(binary: &Path, config: &Path) -> Self {
        Self {
            binary: binary.to_owned(),
            config: config.to_owned(),
            procs: Vec::new(),
        }
    }

    /// Starts one more (log level `warn`).
    ///
    /// # Panics
    /// The process does not start.
    pub fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .map_or_else(|_| Stdio::null(), Stdio::from);
        let child = Command::new(&self.binary)
            .arg(&self.config)
            .env("CREEL_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("worker process");
        self.procs.push(child);
    }

    /// Kills one of them with SIGKILL (the `pick`th, modulo how many run) and reaps it.
    pub fn kill_one(&mut self, pick: usize) {
        if self.procs.is_empty() {
            return;
        }
        let mut child = self.procs.swap_remove(pick % self.procs.len());
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
    }

    /// Where their stderr goes.
    #[must_use]
    pub fn log_path(&self) -> PathBuf {
        self.config.with_extension("log")
    }

    /// What they logged so far.
    #[must_use]
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }
}

/// The start of a worker process's config file: Redis at `redis_url`, short leases and drains
/// (a killed worker's jobs come back within seconds), retries that outlast many kills, and the
/// `default` queue with `concurrency` slots. The test appends its own sections.
#[must_use]
pub fn config_head(redis_url: &str, concurrency: usize) -> String {
    format!(
        r#"[redis]
url = "{redis_url}"
[worker]
lease_ms = 1500
drain_ms = 500
default_retry = {{ max_attempts = 30, base_delay = 200, max_delay = 1000, jitter = 0.2 }}
[worker.queues.default]
concurrency = {concurrency}
"#
    )
}

impl Drop for WorkerProcesses {
    fn drop(&mut self) {
        for c in &mut self.procs {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
