//! The HTTP API (`api`): its listener's limits and its bearer tokens, each a principal with
//! scopes.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::Secret;
use super::error::{ConfigError, all_positive};

/// The HTTP API.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Listen address.
    pub listen: String,
    /// Bearer tokens that may call the API (everything but health needs one).
    pub tokens: Vec<ApiToken>,
    /// Largest accepted request body, in bytes (vendor callbacks included).
    pub max_body_bytes: usize,
    /// The principal that owns the jobs the Redis-stream intake enqueues (as a token's name
    /// owns the jobs it enqueues through HTTP).
    pub stream_principal: String,
    /// Timeouts and caps of the HTTP listener.
    pub limits: HttpLimits,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            tokens: Vec::new(),
            max_body_bytes: 64 * 1024,
            stream_principal: "stream".into(),
            limits: HttpLimits::default(),
        }
    }
}

/// Timeouts and caps of the HTTP listener (the API and the vendor callbacks), so slow or
/// half-open clients cannot hold sockets or tasks without bound.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpLimits {
    /// A connection must send a request's whole header within this, in milliseconds.
    pub header_read_timeout_ms: u64,
    /// A request (reading its body and answering it) must finish within this, in milliseconds.
    pub request_timeout_ms: u64,
    /// A keep-alive connection is closed this long after it opened (after the request it is
    /// answering, if any), in milliseconds; a client reconnects as it would after any close.
    pub connection_max_age_ms: u64,
    /// Open connections at once; a further one waits in the kernel's backlog.
    pub max_connections: usize,
    /// Requests being answered at once; more wait for a slot (up to the request timeout).
    pub max_concurrent_requests: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            header_read_timeout_ms: 10_000,
            request_timeout_ms: 30_000,
            connection_max_age_ms: 60_000,
            max_connections: 1024,
            max_concurrent_requests: 256,
        }
    }
}

impl HttpLimits {
    /// Every limit must be positive.
    pub fn validate(&self) -> Result<(), ConfigError> {
        all_positive(
            "api.limits",
            &[
                ("header_read_timeout_ms", self.header_read_timeout_ms),
                ("request_timeout_ms", self.request_timeout_ms),
                ("connection_max_age_ms", self.connection_max_age_ms),
                ("max_connections", self.max_connections as u64),
                (
                    "max_concurrent_requests",
                    self.max_concurrent_requests as u64,
                ),
            ],
        )
    }
}

/// One API token: a principal. Its name owns the jobs it enqueues (`created_by`), namespaces
/// its idempotency keys, and decides which jobs it may see.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiToken {
    /// Who holds it: 1–64 characters of `a-z0-9._-`, unique among the tokens.
    pub name: String,
    /// The bearer token: at least [`MIN_TOKEN_BYTES`] bytes.
    pub token: Secret,
    /// What it may do; default `jobs:write`, `jobs:read`, `jobs:cancel`.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<Scope>,
}

/// The shortest bearer token accepted at config load, in bytes.
pub const MIN_TOKEN_BYTES: usize = 32;

/// What an API token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Scope {
    /// Enqueue jobs and retry its own failed or cancelled jobs.
    #[serde(rename = "jobs:write")]
    JobsWrite,
    /// Read and list its own jobs.
    #[serde(rename = "jobs:read")]
    JobsRead,
    /// Cancel its own jobs.
    #[serde(rename = "jobs:cancel")]
    JobsCancel,
    /// List queues with their counts; pause and resume them.
    #[serde(rename = "queues:admin")]
    QueuesAdmin,
    /// Read a queue's backlog (`GET /v1/scaling/{queue}`): what an autoscaler's token needs.
    #[serde(rename = "scaling:read")]
    ScalingRead,
    /// Read vendor accounts' cost, traffic and budgets (`GET /v1/accounts/{account}/usage`).
    #[serde(rename = "usage:read")]
    UsageRead,
    /// Everything, on every principal's jobs.
    #[serde(rename = "admin")]
    Admin,
}

impl Scope {
    /// The scope's name as written in config.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::JobsWrite => "jobs:write",
            Self::JobsRead => "jobs:read",
            Self::JobsCancel => "jobs:cancel",
            Self::QueuesAdmin => "queues:admin",
            Self::ScalingRead => "scaling:read",
            Self::UsageRead => "usage:read",
            Self::Admin => "admin",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

pub(super) fn default_scopes() -> Vec<Scope> {
    vec![Scope::JobsWrite, Scope::JobsRead, Scope::JobsCancel]
}

impl ApiConfig {
    /// Checks the tokens: names valid and unique, tokens long enough and distinct.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut names = std::collections::BTreeSet::new();
        let mut tokens = std::collections::BTreeSet::new();
        for (i, t) in self.tokens.iter().enumerate() {
            let field = format!("api.tokens[{i}]");
            crate::job::check_name(&format!("{field}.name"), &t.name)
                .map_err(|e| ConfigError::invalid(e.field, e.reason))?;
            if !names.insert(t.name.as_str()) {
                return Err(ConfigError::Duplicate {
                    field: format!("{field}.name"),
                    what: "the name",
                });
            }
            if t.token.expose().trim().len() < MIN_TOKEN_BYTES {
                return Err(ConfigError::invalid(
                    format!("{field}.token"),
                    format!(
                        "must be at least {MIN_TOKEN_BYTES} bytes (a random token, e.g. `openssl rand -hex 32`)"
                    ),
                ));
            }
            if !tokens.insert(t.token.expose()) {
                return Err(ConfigError::Duplicate {
                    field: format!("{field}.token"),
                    what: "the same token",
                });
            }
            if t.scopes.is_empty() {
                return Err(ConfigError::invalid(
                    format!("{field}.scopes"),
                    "give at least one scope",
                ));
            }
        }
        crate::job::check_name("api.stream_principal", &self.stream_principal)
            .map_err(|e| ConfigError::invalid(e.field, e.reason))?;
        self.limits.validate()
    }
}
