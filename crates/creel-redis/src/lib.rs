//! One Redis connection type for creel's queue and limiter, whatever the deployment runs: a
//! single server (`redis://…`), a Redis Cluster (seed nodes; the cluster client learns the
//! slot map, follows `MOVED`/`ASK`, and finds a failed-over shard's new primary), or a primary
//! watched by Redis Sentinels (followed through a failover, `sentinel.rs`).
//!
//! Both kinds reconnect on their own and answer within a response timeout, so a slow or absent
//! Redis turns into an error the caller classifies, never a hung worker.

mod sentinel;

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig, PubSub};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, RedisResult, Value};

pub use sentinel::{SentinelConnection, SentinelSpec};

/// Where Redis is.
#[derive(Clone, PartialEq, Eq)]
pub enum RedisTarget {
    /// One server (or a proxy in front of one primary): `redis://[:password@]host:port/db`.
    Server(String),
    /// A Redis Cluster, by some of its nodes' URLs (any reachable one is enough to learn the
    /// rest).
    Cluster(Vec<String>),
    /// The primary a set of Sentinels names.
    Sentinel(SentinelSpec),
}

impl std::fmt::Debug for RedisTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Server(url) => f.debug_tuple("Server").field(&mask(url)).finish(),
            Self::Cluster(nodes) => f
                .debug_tuple("Cluster")
                .field(&nodes.iter().map(|n| mask(n)).collect::<Vec<_>>())
                .finish(),
            Self::Sentinel(spec) => f
                .debug_struct("Sentinel")
                .field("master_name", &spec.master_name)
                .field(
                    "sentinels",
                    &spec.sentinels.iter().map(|n| mask(n)).collect::<Vec<_>>(),
                )
                .field("master_url", &mask(&spec.master_url))
                .finish(),
        }
    }
}

/// A URL with its password replaced by `***`, for messages.
fn mask(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split_once(':').map_or("", |(u, _)| u);
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

impl RedisTarget {
    /// Where a pub/sub subscriber may connect, in the order to try. A classic `PUBLISH` on a
    /// cluster reaches every node, so any one of them will do; with Sentinels, the primary
    /// they name now.
    async fn subscribe_infos(&self, timeouts: Timeouts) -> RedisResult<Vec<redis::ConnectionInfo>> {
        use redis::IntoConnectionInfo;
        match self {
            Self::Server(url) => Ok(vec![url.as_str().into_connection_info()?]),
            Self::Cluster(nodes) => nodes
                .iter()
                .map(|n| n.as_str().into_connection_info())
                .collect(),
            Self::Sentinel(spec) => Ok(vec![spec.master_info(timeouts).await?]),
        }
    }
}

/// How patient a connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// The longest one command may take before it fails.
    pub response: Duration,
    /// The longest a (re)connection may take.
    pub connect: Duration,
    /// How many times a command is retried on a broken connection before it fails.
    pub retries: u32,
    /// The longest wait between reconnection attempts.
    pub max_delay: Duration,
}

/// A multiplexed, reconnecting connection to a single server or a cluster. Cheap to clone:
/// clones share the underlying connections.
#[derive(Clone)]
pub enum RedisConnection {
    /// To one server.
    Server(ConnectionManager),
    /// To a cluster: commands go to the shard that owns their keys' slot.
    Cluster(ClusterConnection),
    /// To the primary the Sentinels name, followed through failovers.
    Sentinel(SentinelConnection),
}

impl std::fmt::Debug for RedisConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Server(_) => "RedisConnection::Server",
            Self::Cluster(_) => "RedisConnection::Cluster",
            Self::Sentinel(_) => "RedisConnection::Sentinel",
        })
    }
}

impl RedisConnection {
    /// Connects to `target`.
    ///
    /// # Errors
    /// A URL is invalid, or no node answered within `timeouts.connect`.
    pub async fn open(target: &RedisTarget, timeouts: Timeouts) -> RedisResult<Self> {
        match target {
            RedisTarget::Server(url) => {
                let client = redis::Client::open(url.as_str())?;
                let config = ConnectionManagerConfig::new()
                    .set_response_timeout(Some(timeouts.response))
                    .set_connection_timeout(Some(timeouts.connect))
                    .set_number_of_retries(timeouts.retries as usize)
                    .set_max_delay(timeouts.max_delay);
                Ok(Self::Server(
                    client.get_connection_manager_with_config(config).await?,
                ))
            }
            RedisTarget::Cluster(nodes) => {
                let client = ClusterClientBuilder::new(nodes.iter().map(String::as_str))
                    .response_timeout(timeouts.response)
                    .connection_timeout(timeouts.connect)
                    .retries(timeouts.retries)
                    .max_retry_wait(
                        u64::try_from(timeouts.max_delay.as_millis()).unwrap_or(u64::MAX),
                    )
                    .build()?;
                Ok(Self::Cluster(client.get_async_connection().await?))
            }
            RedisTarget::Sentinel(spec) => Ok(Self::Sentinel(
                SentinelConnection::open(spec.clone(), timeouts).await?,
            )),
        }
    }

    /// Whether this is a cluster connection.
    #[must_use]
    pub fn is_cluster(&self) -> bool {
        matches!(self, Self::Cluster(_))
    }

    /// `WAIT replicas timeout`: how many replicas acknowledged every write sent before it. On
    /// a cluster it goes to the primary that owns `near_key`'s slot, or, without a key, to
    /// every primary (the answer is the smallest count).
    ///
    /// # Errors
    /// Redis failed (a shard without a reachable primary, during a failover, included).
    pub async fn wait_for_replicas(
        &mut self,
        near_key: Option<&str>,
        replicas: u32,
        timeout: Duration,
    ) -> RedisResult<u32> {
        let mut cmd = redis::cmd("WAIT");
        cmd.arg(replicas).arg(
            u64::try_from(timeout.as_millis())
                .unwrap_or(u64::MAX)
                .max(1),
        );
        match (self, near_key) {
            (Self::Cluster(c), Some(key)) => {
                let route = redis::cluster_routing::RoutingInfo::SingleNode(
                    redis::cluster_routing::SingleNodeRoutingInfo::SpecificNode(
                        redis::cluster_routing::Route::with_key(
                            key,
                            redis::cluster_routing::SlotAddr::Master,
                        ),
                    ),
                );
                let acked = c.route_command(cmd, route).await?;
                redis::from_redis_value(acked).map_err(Into::into)
            }
            (conn, _) => cmd.query_async(conn).await,
        }
    }
}

impl ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Server(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
            Self::Sentinel(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Server(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Sentinel(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Server(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
            Self::Sentinel(c) => c.get_db(),
        }
    }
}

/// A pub/sub connection subscribed to `channel`, on the first node of `target` that answers.
///
/// # Errors
/// No node could be reached (the last node's error).
pub async fn subscribe(target: &RedisTarget, channel: &str) -> RedisResult<PubSub> {
    let timeouts = Timeouts {
        response: Duration::from_secs(5),
        connect: Duration::from_secs(5),
        retries: 0,
        max_delay: Duration::from_secs(1),
    };
    let mut last = None;
    for info in target.subscribe_infos(timeouts).await? {
        let attempt = async {
            let client = redis::Client::open(info)?;
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        match attempt.await {
            Ok(p) => return Ok(p),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        redis::RedisError::from((redis::ErrorKind::Client, "no Redis node to subscribe on"))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_masks_passwords() {
        let t = RedisTarget::Cluster(vec![
            "redis://:hunter2@a:7000".into(),
            "redis://b:7001".into(),
        ]);
        let shown = format!("{t:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("redis://:***@a:7000"), "{shown}");
    }
}
