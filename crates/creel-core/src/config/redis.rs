//! Where the queue lives (`redis`); the URL's password never prints.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Redis connection and key layout. The URL's password never prints: `Debug` and
/// serialization (what `creel config check` shows) mask it.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisConfig {
    /// `redis://[:password@]host:port/db`: a single Redis (ignored when `cluster` is set).
    #[serde(serialize_with = "serialize_masked_url")]
    pub url: String,
    /// A Redis Cluster's seed nodes (`["redis://[:password@]host:port", …]`); any reachable one
    /// is enough. Empty (the default): the single Redis at `url`.
    #[serde(serialize_with = "serialize_masked_urls")]
    pub cluster: Vec<String>,
    /// A primary watched by Redis Sentinels, followed through failovers: the Sentinels give
    /// its address, `url` still gives the password and database.
    pub sentinel: Option<SentinelConfig>,
    /// Prefix of every key (no `{` or `}`: those mark Redis Cluster hash tags); each queue's
    /// completion events go to `<prefix>:q:{<queue>}:events`, stream intake reads
    /// `<prefix>:requests`.
    pub prefix: String,
    /// Per-command response timeout, in milliseconds.
    pub response_timeout_ms: u64,
    /// After an enqueue and after recording step outcomes, wait (Redis `WAIT`) until this many
    /// replicas have the write, so an acknowledged job survives a failover. `0` (the default)
    /// does not wait: a primary that dies before replicating loses the writes of its last
    /// moments (asynchronous replication), though never a job it had already replicated.
    pub wait_replicas: u32,
    /// How long one `WAIT` may take, in milliseconds; an enqueue whose write is not on
    /// `wait_replicas` replicas by then fails (retry it with the same idempotency key).
    pub wait_timeout_ms: u64,
}

/// Where the Sentinels are and which primary to ask them for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SentinelConfig {
    /// The name the Sentinels monitor the primary under (`sentinel monitor <name> …`).
    pub master_name: String,
    /// The Sentinels' URLs (`redis://[:password@]host:26379`); each is asked in turn.
    #[serde(serialize_with = "serialize_masked_urls")]
    pub nodes: Vec<String>,
}

impl RedisConfig {
    /// The URL (or the cluster's seed nodes) with passwords masked, for messages.
    #[must_use]
    pub fn display_url(&self) -> String {
        if let Some(sentinel) = &self.sentinel {
            let nodes: Vec<String> = sentinel
                .nodes
                .iter()
                .map(|n| crate::redact::mask_password(n))
                .collect();
            format!(
                "primary {:?} of sentinels [{}]",
                sentinel.master_name,
                nodes.join(", ")
            )
        } else if self.cluster.is_empty() {
            crate::redact::mask_password(&self.url)
        } else {
            let nodes: Vec<String> = self
                .cluster
                .iter()
                .map(|n| crate::redact::mask_password(n))
                .collect();
            format!("cluster [{}]", nodes.join(", "))
        }
    }

    /// Checks the prefix and the cluster's node URLs.
    ///
    /// # Errors
    /// The field at fault, and why.
    pub fn validate(&self) -> Result<(), super::ConfigError> {
        if self.prefix.is_empty() || self.prefix.contains(['{', '}']) {
            return Err(super::ConfigError::invalid(
                "redis.prefix",
                "must be non-empty, without `{` or `}` (they mark Redis Cluster hash tags)",
            ));
        }
        if let Some(sentinel) = &self.sentinel {
            if !self.cluster.is_empty() {
                return Err(super::ConfigError::invalid(
                    "redis.sentinel",
                    "set either redis.cluster or redis.sentinel, not both",
                ));
            }
            if sentinel.master_name.is_empty() {
                return Err(super::ConfigError::invalid(
                    "redis.sentinel.master_name",
                    "must name the primary the Sentinels monitor",
                ));
            }
            if sentinel.nodes.is_empty() {
                return Err(super::ConfigError::invalid(
                    "redis.sentinel.nodes",
                    "must list at least one Sentinel URL",
                ));
            }
            for (i, node) in sentinel.nodes.iter().enumerate() {
                if !node.starts_with("redis://") {
                    return Err(super::ConfigError::invalid(
                        format!("redis.sentinel.nodes[{i}]"),
                        "must be a redis:// URL of a Sentinel",
                    ));
                }
            }
        }
        for (i, node) in self.cluster.iter().enumerate() {
            if !(node.starts_with("redis://") || node.starts_with("rediss://")) {
                return Err(super::ConfigError::invalid(
                    format!("redis.cluster[{i}]"),
                    "must be a redis:// or rediss:// URL of a cluster node",
                ));
            }
        }
        Ok(())
    }
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &crate::redact::mask_password(&self.url))
            .field(
                "cluster",
                &self
                    .cluster
                    .iter()
                    .map(|n| crate::redact::mask_password(n))
                    .collect::<Vec<_>>(),
            )
            .field("prefix", &self.prefix)
            .field("response_timeout_ms", &self.response_timeout_ms)
            .field("wait_replicas", &self.wait_replicas)
            .field("wait_timeout_ms", &self.wait_timeout_ms)
            .finish()
    }
}

fn serialize_masked_urls<S: serde::Serializer>(urls: &[String], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(urls.iter().map(|u| crate::redact::mask_password(u)))
}

fn serialize_masked_url<S: serde::Serializer>(url: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::redact::mask_password(url))
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            url: "redis://127.0.0.1:6379/".into(),
            cluster: Vec::new(),
            sentinel: None,
            prefix: "creel".into(),
            response_timeout_ms: 5000,
            wait_replicas: 0,
            wait_timeout_ms: 1000,
        }
    }
}
