//! Where the queue lives (`redis`); the URL's password never prints.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Redis connection and key layout. The URL's password never prints: `Debug` and
/// serialization (what `creel config check` shows) mask it.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisConfig {
    /// `redis://[:password@]host:port/db`.
    #[serde(serialize_with = "serialize_masked_url")]
    pub url: String,
    /// Prefix of every key; events go to `<prefix>:events`, stream intake reads
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

impl RedisConfig {
    /// The URL with its password masked, for messages.
    #[must_use]
    pub fn display_url(&self) -> String {
        crate::redact::mask_password(&self.url)
    }
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &self.display_url())
            .field("prefix", &self.prefix)
            .field("response_timeout_ms", &self.response_timeout_ms)
            .field("wait_replicas", &self.wait_replicas)
            .field("wait_timeout_ms", &self.wait_timeout_ms)
            .finish()
    }
}

fn serialize_masked_url<S: serde::Serializer>(url: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::redact::mask_password(url))
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            url: "redis://127.0.0.1:6379/".into(),
            prefix: "creel".into(),
            response_timeout_ms: 5000,
            wait_replicas: 0,
            wait_timeout_ms: 1000,
        }
    }
}
