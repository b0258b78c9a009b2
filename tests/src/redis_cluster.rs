//! A private Redis Cluster for tests: `redis-server --cluster-enabled yes` processes on free
//! loopback ports (each with its bus port, +10000, free too), joined by
//! `redis-cli --cluster create` with replicas if asked. Nodes can be SIGKILLed to test
//! failover, and the whole cluster stopped and restarted on its data.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use creel_queue::embedded::RedisServer;
use creel_redis::RedisTarget;

/// What makes a node a cluster node, after the harness's own server settings.
fn node_args() -> Vec<String> {
    [
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        "nodes.conf",
        // A dead primary is noticed within a second, and its replica takes over soon after.
        "--cluster-node-timeout",
        "1000",
        // The other shards keep serving while one shard fails over.
        "--cluster-require-full-coverage",
        "no",
        "--repl-diskless-sync-delay",
        "0",
    ]
    .map(str::to_owned)
    .into()
}

/// A running cluster; every node is killed when it is dropped.
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

/// A port that is free, and whose cluster bus port (+10000) is free too.
fn free_port_pair() -> anyhow::Result<u16> {
    for _ in 0..200 {
        let port = fastrand::u16(20_000..40_000);
        let free = |p: u16| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok();
        if free(port) && free(port + 10_000) {
            return Ok(port);
        }
    }
    bail!("no free port pair for a cluster node")
}

impl RedisCluster {
    /// Starts `primaries` primaries with `replicas` replicas each and waits until every node
    /// says the cluster is ok.
    pub fn start(primaries: usize, replicas: usize) -> anyhow::Result<Self> {
        let mut nodes = Vec::new();
        for _ in 0..primaries * (1 + replicas) {
            nodes.push(RedisServer::start_on(free_port_pair()?, node_args())?);
        }
        let cluster = Self { nodes };
        let mut create = Command::new("redis-cli");
        create.arg("--cluster").arg("create");
        for n in &cluster.nodes {
            create.arg(format!("127.0.0.1:{}", n.port()));
        }
        let out = create
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .output()
            .context("running redis-cli --cluster create")?;
        if !out.status.success() {
            bail!(
                "redis-cli --cluster create failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        cluster.wait_ok(Duration::from_secs(30))?;
        Ok(cluster)
    }

    /// Waits until every live node reports `cluster_state:ok` and, with replicas, every
    /// replica is in sync with its primary.
    pub fn wait_ok(&self, within: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + within;
        loop {
            let ok = self.nodes.iter().filter(|n| n.is_running()).all(|n| {
                let info = node_command(n.port(), &["CLUSTER", "INFO"]).unwrap_or_default();
                let repl = node_command(n.port(), &["INFO", "replication"]).unwrap_or_default();
                info.contains("cluster_state:ok")
                    && (!repl.contains("role:slave") || repl.contains("master_link_status:up"))
            });
            if ok {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("the cluster was not ok within {within:?}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Every node's URL, for the cluster client's seed list.
    #[must_use]
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    /// The cluster as creel's connection target.
    #[must_use]
    pub fn target(&self) -> RedisTarget {
        RedisTarget::Cluster(self.urls())
    }

    /// The ports of the live nodes that are primaries now.
    pub fn primaries(&self) -> anyhow::Result<Vec<u16>> {
        let mut out = Vec::new();
        for n in self.nodes.iter().filter(|n| n.is_running()) {
            let repl = node_command(n.port(), &["INFO", "replication"])?;
            if repl.contains("role:master") {
                out.push(n.port());
            }
        }
        Ok(out)
    }

    /// The keys a node holds that match `pattern` (its own `KEYS`).
    pub fn keys_on(&self, port: u16, pattern: &str) -> anyhow::Result<Vec<String>> {
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}/"))?;
        let mut c = client.get_connection()?;
        Ok(redis::cmd("KEYS").arg(pattern).query(&mut c)?)
    }

    /// Runs one command on one node and returns its text answer.
    pub fn on_node(&self, port: u16, args: &[&str]) -> anyhow::Result<String> {
        node_command(port, args)
    }

    /// SIGKILLs the node on `port` (no shutdown, no final write).
    pub fn kill(&mut self, port: u16) {
        for n in self.nodes.iter_mut().filter(|n| n.port() == port) {
            n.kill();
        }
    }

    /// Starts a killed node again on its port and data: it rejoins the cluster (a killed
    /// primary whose replica took over comes back as that replica's replica).
    pub fn revive(&mut self, port: u16) -> anyhow::Result<()> {
        for n in self
            .nodes
            .iter_mut()
            .filter(|n| n.port() == port && !n.is_running())
        {
            n.restart()?;
        }
        Ok(())
    }

    /// A synchronous cluster connection, for assertions.
    pub fn connection(&self) -> anyhow::Result<redis::cluster::ClusterConnection> {
        Ok(redis::cluster::ClusterClient::new(self.urls())?.get_connection()?)
    }

    /// Stops every node (each writes its append-only file) and waits for them to exit.
    pub fn stop(&mut self) -> anyhow::Result<()> {
        for n in &mut self.nodes {
            n.stop()?;
        }
        Ok(())
    }

    /// Starts every node again on its port and data; waits until the cluster is ok.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        for n in &mut self.nodes {
            n.restart()?;
        }
        self.wait_ok(Duration::from_secs(30))
    }
}

fn node_command(port: u16, args: &[&str]) -> anyhow::Result<String> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/"))?;
    let mut c = client.get_connection_with_timeout(Duration::from_secs(2))?;
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    let v: redis::Value = cmd.query(&mut c)?;
    Ok(match v {
        redis::Value::BulkString(b) => String::from_utf8_lossy(&b).into_owned(),
        redis::Value::SimpleString(s) | redis::Value::VerbatimString { text: s, .. } => s,
        other => format!("{other:?}"),
    })
}
