//! A real `redis-server` owned by one test: started on a free loopback port in its own temporary
//! directory with append-only persistence, stoppable and restartable on the same port and data.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

const INSTALL_HINT: &str = "redis-server is not installed: install it with `apt-get install redis-server` (Debian/Ubuntu) or `brew install redis` (macOS)";

/// A private Redis server; killed when dropped.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a server on a free port and waits until it answers `PING`.
    ///
    /// Fails with the install command in its message if `redis-server` is missing.
    pub fn start() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir().context("creating a temporary directory for redis")?;
        let port = free_port()?;
        let mut server = Self {
            port,
            dir,
            child: None,
        };
        server.spawn()?;
        Ok(server)
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
            ])
            .arg("--dir")
            .arg(self.dir.path())
            .args([
                "--protected-mode",
                "yes",
                "--loglevel",
                "warning",
                "--enable-debug-command",
                "local",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match child {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(INSTALL_HINT),
            Err(e) => return Err(e).context("starting redis-server"),
        };
        self.child = Some(child);
        self.wait_ready(Duration::from_secs(10))
    }

    fn wait_ready(&mut self, within: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + within;
        let client = redis::Client::open(self.url())?;
        loop {
            if let Ok(mut c) = client.get_connection()
                && redis::cmd("PING").query::<String>(&mut c).is_ok()
            {
                return Ok(());
            }
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                bail!(
                    "redis-server exited at start with {status} (port {})",
                    self.port
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "redis-server did not answer PING on port {} within {within:?}",
                    self.port
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `redis://127.0.0.1:<port>/`
    #[must_use]
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The server's data directory.
    #[must_use]
    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// A synchronous connection, for assertions.
    pub fn connection(&self) -> anyhow::Result<redis::Connection> {
        Ok(redis::Client::open(self.url())?.get_connection()?)
    }

    /// Shuts the server down (flushing its append-only file) and waits for it to exit.
    pub fn stop(&mut self) -> anyhow::Result<()> {
        if let Ok(mut c) = self.connection() {
            let _ = redis::cmd("SHUTDOWN").query::<()>(&mut c);
        }
        if let Some(mut child) = self.child.take() {
            let deadline = Instant::now() + Duration::from_secs(10);
            while child.try_wait()?.is_none() {
                if Instant::now() > deadline {
                    child.kill()?;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Ok(())
    }

    /// Starts the server again on the same port and data directory.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.stop()?;
        self.spawn()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> anyhow::Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(l.local_addr()?.port())
}
