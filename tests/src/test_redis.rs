//! The Redis a test runs on: a private `redis-server`, or, when `TEST_REDIS=cluster`, a private
//! three-primary Redis Cluster (`just test-cluster` runs the queue, limiter and job-kind suites
//! that way). Anything else in `TEST_REDIS` is an error, not a silent fallback.

use creel_queue::embedded::RedisServer;
use creel_redis::RedisTarget;
use redis::{Cmd, ConnectionLike, RedisResult, Value};

use crate::redis_cluster::RedisCluster;

/// A private Redis of the kind the run asks for.
#[derive(Debug)]
pub enum TestRedis {
    /// One `redis-server`.
    Server(RedisServer),
    /// A three-primary cluster.
    Cluster(RedisCluster),
}

/// Which kind `TEST_REDIS` asks for: `true` for a cluster.
#[must_use]
pub fn cluster_requested() -> bool {
    match std::env::var("TEST_REDIS").as_deref() {
        Err(_) | Ok("" | "server") => false,
        Ok("cluster") => true,
        Ok(other) => panic!("TEST_REDIS={other:?}: use `server` or `cluster`"),
    }
}

impl TestRedis {
    /// Starts the kind `TEST_REDIS` asks for.
    #[must_use]
    pub fn start() -> Self {
        if cluster_requested() {
            Self::Cluster(RedisCluster::start(3, 0).expect("starting a Redis Cluster"))
        } else {
            Self::Server(RedisServer::start().expect("starting redis-server"))
        }
    }

    /// Where it is, for creel's connections.
    #[must_use]
    pub fn target(&self) -> RedisTarget {
        match self {
            Self::Server(s) => RedisTarget::Server(s.url()),
            Self::Cluster(c) => c.target(),
        }
    }

    /// A URL of it: the server's, or one cluster node's (enough for a client to find the rest).
    #[must_use]
    pub fn url(&self) -> String {
        match self {
            Self::Server(s) => s.url(),
            Self::Cluster(c) => c.urls().swap_remove(0),
        }
    }

    /// How a helper process is told where it is: the URL, or the node URLs joined by commas
    /// (read back with [`target_of`]).
    #[must_use]
    pub fn spec(&self) -> String {
        match self {
            Self::Server(s) => s.url(),
            Self::Cluster(c) => c.urls().join(","),
        }
    }

    /// Sets a creel configuration's `redis` section to point at it.
    pub fn configure(&self, redis: &mut creel_core::config::RedisConfig) {
        match self {
            Self::Server(s) => redis.url = s.url(),
            Self::Cluster(c) => redis.cluster = c.urls(),
        }
    }

    /// A synchronous connection, for assertions (on a cluster, commands go to their key's
    /// node).
    pub fn connection(&self) -> anyhow::Result<TestConnection> {
        Ok(match self {
            Self::Server(s) => TestConnection::Server(s.connection()?),
            Self::Cluster(c) => TestConnection::Cluster(Box::new(c.connection()?)),
        })
    }

    /// Stops it (flushing its data to disk).
    pub fn stop(&mut self) -> anyhow::Result<()> {
        match self {
            Self::Server(s) => Ok(s.stop()?),
            Self::Cluster(c) => c.stop(),
        }
    }

    /// Starts it again on the same ports and data.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        match self {
            Self::Server(s) => Ok(s.restart()?),
            Self::Cluster(c) => c.restart(),
        }
    }
}

/// The target a [`TestRedis::spec`] names.
#[must_use]
pub fn target_of(spec: &str) -> RedisTarget {
    if spec.contains(',') {
        RedisTarget::Cluster(spec.split(',').map(str::to_owned).collect())
    } else {
        RedisTarget::Server(spec.to_owned())
    }
}

/// A synchronous connection to a [`TestRedis`].
pub enum TestConnection {
    /// To the server.
    Server(redis::Connection),
    /// To the cluster.
    Cluster(Box<redis::cluster::ClusterConnection>),
}

impl ConnectionLike for TestConnection {
    fn req_packed_command(&mut self, cmd: &[u8]) -> RedisResult<Value> {
        match self {
            Self::Server(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands(
        &mut self,
        cmd: &[u8],
        offset: usize,
        count: usize,
    ) -> RedisResult<Vec<Value>> {
        match self {
            Self::Server(c) => c.req_packed_commands(cmd, offset, count),
            Self::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn req_command(&mut self, cmd: &Cmd) -> RedisResult<Value> {
        match self {
            Self::Server(c) => c.req_command(cmd),
            Self::Cluster(c) => c.req_command(cmd),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Server(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
        }
    }

    fn check_connection(&mut self) -> bool {
        match self {
            Self::Server(c) => c.check_connection(),
            Self::Cluster(c) => c.check_connection(),
        }
    }

    fn is_open(&self) -> bool {
        match self {
            Self::Server(c) => c.is_open(),
            Self::Cluster(c) => c.is_open(),
        }
    }
}
