//! A private `redis-server` owned by this process: started on a free loopback port in its own
//! temporary directory with append-only persistence, stoppable and restartable on the same port
//! and data. `creel demo` and the test harness run on it; nothing is installed, and a missing
//! binary is an error that says what to install.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Why the private Redis could not be started or stopped.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedRedisError {
    /// `redis-server` is not on the PATH.
    #[error("{INSTALL_HINT}")]
    NotInstalled,
    /// Starting, probing or stopping it failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// It did not come up.
    #[error("{0}")]
    NotReady(String),
    /// A Redis command to it failed.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
}

fn io(what: &str) -> impl FnOnce(std::io::Error) -> EmbeddedRedisError + '_ {
    move |source| EmbeddedRedisError::Io {
        what: what.to_owned(),
        source,
    }
}

type Result<T> = std::result::Result<T, EmbeddedRedisError>;

const INSTALL_HINT: &str = "redis-server is not installed: install it with `apt-get install redis-server` (Debian/Ubuntu) or `brew install redis` (macOS)";

/// A private Redis server; killed when dropped.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// Arguments after creel's own (a test's cluster or replication settings).
    extra_args: Vec<String>,
}

impl RedisServer {
    /// Starts a server on a free port and waits until it answers `PING`.
    ///
    /// Fails with the install command in its message if `redis-server` is missing.
    pub fn start() -> Result<Self> {
        Self::start_on(free_port()?, Vec::new())
    }

    /// Starts a server on `port` with `extra_args` after creel's own settings (later
    /// arguments win), and waits until it answers `PING`.
    pub fn start_on(port: u16, extra_args: Vec<String>) -> Result<Self> {
        let dir = tempfile::tempdir().map_err(io("creating a temporary directory for redis"))?;
        let mut server = Self {
            port,
            dir,
            child: None,
            extra_args,
        };
        server.spawn()?;
        Ok(server)
    }

    /// Its port.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// SIGKILLs the server: no shutdown, no final write. [`RedisServer::restart`] starts it
    /// again on its port and data.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether its process is running (not stopped or killed).
    #[must_use]
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    fn spawn(&mut self) -> Result<()> {
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
            .args(&self.extra_args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match child {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(EmbeddedRedisError::NotInstalled);
            }
            Err(e) => return Err(io("starting redis-server")(e)),
        };
        self.child = Some(child);
        self.wait_ready(Duration::from_secs(10))
    }

    fn wait_ready(&mut self, within: Duration) -> Result<()> {
        let deadline = Instant::now() + within;
        let client = redis::Client::open(self.url())?;
        loop {
            if let Ok(mut c) = client.get_connection()
                && redis::cmd("PING").query::<String>(&mut c).is_ok()
            {
                return Ok(());
            }
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait().map_err(io("waiting for redis-server"))?
            {
                return Err(EmbeddedRedisError::NotReady(format!(
                    "redis-server exited at start with {status} (port {})",
                    self.port
                )));
            }
            if Instant::now() > deadline {
                return Err(EmbeddedRedisError::NotReady(format!(
                    "redis-server did not answer PING on port {} within {within:?}",
                    self.port
                )));
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
    pub fn connection(&self) -> Result<redis::Connection> {
        Ok(redis::Client::open(self.url())?.get_connection()?)
    }

    /// Shuts the server down (flushing its append-only file) and waits for it to exit.
    pub fn stop(&mut self) -> Result<()> {
        if let Ok(mut c) = self.connection() {
            let _ = redis::cmd("SHUTDOWN").query::<()>(&mut c);
        }
        if let Some(mut child) = self.child.take() {
            let deadline = Instant::now() + Duration::from_secs(10);
            while child
                .try_wait()
                .map_err(io("waiting for redis-server to exit"))?
                .is_none()
            {
                if Instant::now() > deadline {
                    child.kill().map_err(io("killing redis-server"))?;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Ok(())
    }

    /// Starts the server again on the same port and data directory.
    pub fn restart(&mut self) -> Result<()> {
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

fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(io("finding a free port"))?;
    Ok(l.local_addr().map_err(io("finding a free port"))?.port())
}
