//! A private Sentinel-watched Redis for tests: one primary and its replicas (`redis-server`
//! with `REPLICAOF`), and three Sentinels (`redis-server <conf> --sentinel`) monitoring it
//! under the name `creel` with a quorum of two. The primary can be SIGKILLed; the Sentinels
//! then promote a replica.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use creel_queue::embedded::RedisServer;
use creel_redis::{RedisTarget, SentinelSpec};

/// The name the Sentinels monitor the primary under.
pub const MASTER_NAME: &str = "creel";

/// A running set; everything is killed when it is dropped.
#[derive(Debug)]
pub struct SentinelSet {
    /// The servers: the first is the primary at the start.
    servers: Vec<Option<RedisServer>>,
    sentinels: Vec<(u16, tempfile::TempDir, Child)>,
}

impl Drop for SentinelSet {
    fn drop(&mut self) {
        for (_, _, child) in &mut self.sentinels {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn port_of(server: &RedisServer) -> u16 {
    server
        .url()
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_default()
}

fn info(server: &RedisServer, section: &str) -> anyhow::Result<String> {
    let mut c = server.connection()?;
    Ok(redis::cmd("INFO").arg(section).query(&mut c)?)
}

impl SentinelSet {
    /// Starts a primary with `replicas` replicas in sync, and three Sentinels that know them
    /// all (and each other).
    pub fn start(replicas: usize) -> anyhow::Result<Self> {
        let mut servers = Vec::new();
        for _ in 0..=replicas {
            let server = RedisServer::start()?;
            let mut c = server.connection()?;
            // Whoever is promoted serves a full sync at once, not after the 5 s default.
            let _: () = redis::cmd("CONFIG")
                .arg("SET")
                .arg("repl-diskless-sync-delay")
                .arg("0")
                .query(&mut c)?;
            servers.push(Some(server));
        }
        let primary_port = servers[0].as_ref().map(port_of).unwrap_or_default();
        for replica in servers.iter().skip(1).flatten() {
            let mut c = replica.connection()?;
            let _: () = redis::cmd("REPLICAOF")
                .arg("127.0.0.1")
                .arg(primary_port)
                .query(&mut c)?;
        }
        let mut set = Self {
            servers,
            sentinels: Vec::new(),
        };
        set.wait_replicas_online(replicas, Duration::from_secs(15))?;
        for _ in 0..3 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")?
                .local_addr()?
                .port();
            let dir = tempfile::tempdir()?;
            let conf = dir.path().join("sentinel.conf");
            std::fs::write(
                &conf,
                format!(
                    "port {port}\nbind 127.0.0.1\ndir {}\n\
                     sentinel monitor {MASTER_NAME} 127.0.0.1 {primary_port} 2\n\
                     sentinel down-after-milliseconds {MASTER_NAME} 1000\n\
                     sentinel failover-timeout {MASTER_NAME} 3000\n",
                    dir.path().display()
                ),
            )?;
            let child = Command::new("redis-server")
                .arg(&conf)
                .arg("--sentinel")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("starting a Sentinel (redis-server --sentinel)")?;
            set.sentinels.push((port, dir, child));
        }
        // Ready when every Sentinel has found the replicas and the other Sentinels.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = set.sentinels.iter().all(|(port, _, _)| {
                let known = |what: &str| -> usize {
                    sentinel_query::<Vec<redis::Value>>(*port, &[what, MASTER_NAME])
                        .map_or(0, |v| v.len())
                };
                known("replicas") == replicas && known("sentinels") == 2
            });
            if ready {
                return Ok(set);
            }
            if Instant::now() > deadline {
                bail!("the Sentinels did not discover each other and the replicas");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn wait_replicas_online(&self, replicas: usize, within: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + within;
        loop {
            let primary = self.primary_server()?;
            let online = info(primary, "replication")?
                .matches("state=online")
                .count();
            if online >= replicas {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("{online} of {replicas} replicas online");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn primary_server(&self) -> anyhow::Result<&RedisServer> {
        let port = self.primary_port()?;
        self.servers
            .iter()
            .flatten()
            .find(|s| port_of(s) == port)
            .context("the primary the Sentinels name is not one of ours")
    }

    /// The port of the primary the first live Sentinel names now.
    pub fn primary_port(&self) -> anyhow::Result<u16> {
        for (port, _, _) in &self.sentinels {
            if let Ok((_, p)) =
                sentinel_query::<(String, u16)>(*port, &["get-master-addr-by-name", MASTER_NAME])
            {
                return Ok(p);
            }
        }
        // Before the Sentinels run: the first server.
        self.servers
            .first()
            .and_then(|s| s.as_ref().map(port_of))
            .context("no primary")
    }

    /// The Sentinels as creel's connection target.
    #[must_use]
    pub fn target(&self) -> RedisTarget {
        RedisTarget::Sentinel(SentinelSpec {
            master_name: MASTER_NAME.into(),
            sentinels: self
                .sentinels
                .iter()
                .map(|(port, _, _)| format!("redis://127.0.0.1:{port}/"))
                .collect(),
            master_url: "redis://127.0.0.1/".into(),
        })
    }

    /// SIGKILLs the current primary.
    pub fn kill_primary(&mut self) -> anyhow::Result<u16> {
        let port = self.primary_port()?;
        for slot in &mut self.servers {
            if slot.as_ref().is_some_and(|s| port_of(s) == port) {
                // Dropping a RedisServer kills its process (SIGKILL).
                *slot = None;
            }
        }
        Ok(port)
    }

    /// Waits until the Sentinels name a live primary other than `old` and it has `replicas`
    /// replicas online.
    pub fn wait_promoted(
        &self,
        old: u16,
        replicas: usize,
        within: Duration,
    ) -> anyhow::Result<u16> {
        let deadline = Instant::now() + within;
        loop {
            if let Ok(port) = self.primary_port()
                && port != old
                && self
                    .primary_server()
                    .and_then(|s| info(s, "replication"))
                    .is_ok_and(|i| {
                        i.contains("role:master") && i.matches("state=online").count() >= replicas
                    })
            {
                return Ok(port);
            }
            if Instant::now() > deadline {
                bail!("no replica was promoted within {within:?}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn sentinel_query<T: redis::FromRedisValue>(port: u16, args: &[&str]) -> anyhow::Result<T> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/"))?;
    let mut c = client.get_connection_with_timeout(Duration::from_secs(2))?;
    let mut cmd = redis::cmd("SENTINEL");
    for a in args {
        cmd.arg(*a);
    }
    Ok(cmd.query(&mut c)?)
}
