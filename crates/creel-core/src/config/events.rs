//! Completion events (`events`) and the per-job webhooks they feed: allow-list, signing keys,
//! retries.

use serde::{Deserialize, Serialize};

use super::Secret;
use super::error::ConfigError;

/// Completion events.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventsConfig {
    /// Approximate cap of the events stream.
    pub max_len: u64,
    /// Per-job webhooks.
    pub webhook: WebhookConfig,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            max_len: 100_000,
            webhook: WebhookConfig::default(),
        }
    }
}

/// Per-job webhooks: where they may point, how they are signed and retried.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookConfig {
    /// Where a job's `webhook` may point: URLs whose scheme, host and port must equal the
    /// webhook's, and whose path must be a prefix of the webhook's path at a `/` boundary
    /// (e.g. `https://hooks.example.com/creel/`). Empty: webhooks are refused.
    pub allow: Vec<String>,
    /// Signing keys, newest first ([Standard Webhooks](https://www.standardwebhooks.com):
    /// `whsec_<base64>` or any string of at least 16 bytes). Every delivery carries one
    /// `v1,<signature>` per key in `webhook-signature`, so a receiver can rotate keys. Required
    /// when `allow` is not empty.
    pub secrets: Vec<Secret>,
    /// Legacy: one key, used as the first of `secrets`; it also keeps the old
    /// `X-Creel-Signature: sha256=<hex of HMAC-SHA256(body)>` header on deliveries.
    pub secret: Option<Secret>,
    /// Delivery attempts before giving up (the `webhook` kind's retry policy unless
    /// `[retry.webhook]` sets one).
    pub max_attempts: u32,
    /// Delay before the second attempt, in milliseconds; doubles each time (capped at 5
    /// minutes, jittered).
    pub base_delay_ms: u64,
    /// Per-attempt timeout, in milliseconds.
    pub timeout_ms: u64,
    /// Deliveries to one endpoint (scheme, host, port) running at once in one worker process;
    /// more wait their turn without holding a worker slot.
    pub per_endpoint_concurrency: usize,
    /// The queue delivery jobs run on (one of `worker.queues`); unset, the queue of the job
    /// whose event is delivered.
    pub queue: Option<String>,
}

impl WebhookConfig {
    /// The `webhook` kind's retry policy these settings imply.
    #[must_use]
    pub fn retry_policy(&self) -> crate::RetryPolicy {
        crate::RetryPolicy {
            max_attempts: self.max_attempts.max(1),
            base_delay: std::time::Duration::from_millis(self.base_delay_ms),
            max_delay: std::time::Duration::from_secs(300),
            ..crate::RetryPolicy::default()
        }
    }
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            allow: Vec::new(),
            secrets: Vec::new(),
            secret: None,
            max_attempts: 6,
            base_delay_ms: 1000,
            timeout_ms: 10_000,
            per_endpoint_concurrency: 4,
            queue: None,
        }
    }
}

/// The shortest webhook signing key, in bytes.
pub const MIN_WEBHOOK_KEY_BYTES: usize = 16;

impl WebhookConfig {
    /// The signing keys in force, newest first: `secret` (legacy) then `secrets`.
    #[must_use]
    pub fn signing_keys(&self) -> Vec<&Secret> {
        self.secret.iter().chain(self.secrets.iter()).collect()
    }

    /// Whether `webhook` is under one of the allowed URLs: same scheme, host and port, and a
    /// path under the allowed path. Parsed, never compared as strings, so
    /// `https://hooks.example.com.evil.test/` is not under `https://hooks.example.com/`.
    #[must_use]
    pub fn allows(&self, webhook: &str) -> bool {
        let Ok(url) = url::Url::parse(webhook) else {
            return false;
        };
        if !url.username().is_empty() || url.password().is_some() {
            return false;
        }
        self.allow.iter().any(|a| {
            url::Url::parse(a).is_ok_and(|allowed| {
                allowed.scheme() == url.scheme()
                    && allowed.host() == url.host()
                    && allowed.port_or_known_default() == url.port_or_known_default()
                    && path_under(url.path(), allowed.path())
            })
        })
    }

    /// Checks the allow-list parses and that webhooks, when allowed, are signed.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (i, a) in self.allow.iter().enumerate() {
            let field = format!("events.webhook.allow[{i}]");
            let url = url::Url::parse(a)
                .map_err(|e| ConfigError::invalid(&field, format!("not a URL: {e}")))?;
            if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
                return Err(ConfigError::invalid(
                    field,
                    "must be an http(s) URL with a host",
                ));
            }
        }
        if !self.allow.is_empty() && self.signing_keys().is_empty() {
            return Err(ConfigError::invalid(
                "events.webhook.secrets",
                "webhooks are allowed but no key signs them; give at least one secret",
            ));
        }
        for (i, k) in self.signing_keys().iter().enumerate() {
            if webhook_key_bytes(k.expose()).is_none_or(|b| b.len() < MIN_WEBHOOK_KEY_BYTES) {
                return Err(ConfigError::invalid(
                    format!("events.webhook.secrets[{i}]"),
                    format!("must be whsec_<base64> or at least {MIN_WEBHOOK_KEY_BYTES} bytes"),
                ));
            }
        }
        Ok(())
    }
}

/// The HMAC key bytes of a webhook secret: the base64 after `whsec_`, else the string's bytes.
/// `None` for a `whsec_` secret that is not base64.
#[must_use]
pub fn webhook_key_bytes(secret: &str) -> Option<Vec<u8>> {
    match secret.strip_prefix("whsec_") {
        Some(b64) => {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.decode(b64).ok()
        }
        None => Some(secret.as_bytes().to_vec()),
    }
}

/// `path` equals `prefix` or lies below it at a segment boundary.
fn path_under(path: &str, prefix: &str) -> bool {
    if prefix.is_empty() || prefix == "/" {
        return true;
    }
    match path.strip_prefix(prefix) {
        Some(rest) => prefix.ends_with('/') || rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}
