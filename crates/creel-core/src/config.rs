//! creel's configuration model: Redis, the API and its tokens, workers and queues, retry
//! policies, vendor accounts, storage profiles and completion-event sinks. Every field has a
//! default or is required, unknown fields are errors, and secrets print as `***`. Loading (TOML
//! file plus `CREEL_…` environment overrides) is the binary's job; this is only the shape.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::RetryPolicy;

/// A secret value (key, token, password). Prints and serializes as `***`; read it with
/// [`Secret::expose`].
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// A secret holding `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for signing or authenticating. Never log it.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("***")
    }
}

/// The whole configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the queue lives.
    pub redis: RedisConfig,
    /// The HTTP API.
    pub api: ApiConfig,
    /// Workers: queues, concurrency, shutdown.
    pub worker: WorkerConfig,
    /// Retry policy per job kind (kinds not listed use `worker.default_retry`).
    pub retry: BTreeMap<String, RetryPolicy>,
    /// Named vendor accounts; job requests name one in `account`.
    pub accounts: BTreeMap<String, VendorAccount>,
    /// Named storage profiles; `download` payloads name one in `profile`.
    pub storage: BTreeMap<String, StorageProfile>,
    /// Completion events and their webhooks.
    pub events: EventsConfig,
    /// Rules for download sources.
    pub download: DownloadConfig,
    /// The cluster-wide vendor rate limiter.
    pub limiter: LimiterConfig,
    /// The classroom job kinds: polling, deadlines, callbacks.
    pub classroom: crate::classroom::ClassroomConfig,
    /// How long finished jobs, idempotency keys and stream entries are kept.
    pub retention: RetentionConfig,
    /// Bounds on what a request may ask for.
    pub limits: RequestLimits,
    /// Traces: the OTLP endpoint, service name, sampling, how job steps join traces.
    pub telemetry: crate::telemetry::TelemetryConfig,
}

/// How long what creel writes to Redis is kept, so nothing grows without bound. Workers apply
/// it (one of them per interval, chunked).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Succeeded jobs are deleted this long after they finished, in seconds.
    pub succeeded_secs: u64,
    /// Failed (dead) jobs are deleted this long after they failed, in seconds.
    pub failed_secs: u64,
    /// Cancelled jobs are deleted this long after they were cancelled, in seconds.
    pub cancelled_secs: u64,
    /// An idempotency key expires this long after its job was enqueued (and goes with its job
    /// when that is deleted earlier), in seconds.
    pub idempotency_secs: u64,
    /// The request stream (`<prefix>:requests`) is trimmed to about this many entries.
    pub requests_max_len: u64,
    /// How often a worker applies retention, in seconds.
    pub every_secs: u64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        const DAY: u64 = 24 * 3600;
        Self {
            succeeded_secs: 7 * DAY,
            failed_secs: 30 * DAY,
            cancelled_secs: 7 * DAY,
            idempotency_secs: 30 * DAY,
            requests_max_len: 100_000,
            every_secs: 60,
        }
    }
}

impl RetentionConfig {
    /// Every period must be positive.
    pub fn validate(&self) -> Result<(), String> {
        all_positive(
            "retention",
            &[
                ("succeeded_secs", self.succeeded_secs),
                ("failed_secs", self.failed_secs),
                ("cancelled_secs", self.cancelled_secs),
                ("idempotency_secs", self.idempotency_secs),
                ("requests_max_len", self.requests_max_len),
                ("every_secs", self.every_secs),
            ],
        )
    }
}

/// Bounds on what one request may ask for.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RequestLimits {
    /// `run_at` may be at most this far in the future, in seconds.
    pub max_schedule_ahead_secs: u64,
    /// A `baijiayun.crop` may name at most this many segments.
    pub crop_max_segments: usize,
    /// A `baijiayun.crop` with `length_per_segment` cuts segments of at least this many seconds.
    pub crop_min_segment_secs: u32,
}

impl Default for RequestLimits {
    fn default() -> Self {
        Self {
            max_schedule_ahead_secs: 90 * 24 * 3600,
            crop_max_segments: 100,
            crop_min_segment_secs: 60,
        }
    }
}

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
        }
    }
}

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
    pub fn validate(&self) -> Result<(), String> {
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

/// `Err` naming the first of `fields` (of config section `section`) that is zero.
fn all_positive(section: &str, fields: &[(&str, u64)]) -> Result<(), String> {
    match fields.iter().find(|(_, v)| *v == 0) {
        Some((name, _)) => Err(format!("{section}.{name}: must be positive")),
        None => Ok(()),
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
            Self::Admin => "admin",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn default_scopes() -> Vec<Scope> {
    vec![Scope::JobsWrite, Scope::JobsRead, Scope::JobsCancel]
}

impl ApiConfig {
    /// Checks the tokens: names valid and unique, tokens long enough and distinct.
    pub fn validate(&self) -> Result<(), String> {
        let mut names = std::collections::BTreeSet::new();
        let mut tokens = std::collections::BTreeSet::new();
        for (i, t) in self.tokens.iter().enumerate() {
            let field = format!("api.tokens[{i}]");
            crate::job::check_name(&format!("{field}.name"), &t.name).map_err(|e| e.to_string())?;
            if !names.insert(t.name.as_str()) {
                return Err(format!(
                    "{field}.name: {:?} is used by another token",
                    t.name
                ));
            }
            if t.token.expose().trim().len() < MIN_TOKEN_BYTES {
                return Err(format!(
                    "{field}.token: must be at least {MIN_TOKEN_BYTES} bytes (a random token, e.g. `openssl rand -hex 32`)"
                ));
            }
            if !tokens.insert(t.token.expose()) {
                return Err(format!(
                    "{field}.token: the same token is given to another name"
                ));
            }
            if t.scopes.is_empty() {
                return Err(format!("{field}.scopes: give at least one scope"));
            }
        }
        crate::job::check_name("api.stream_principal", &self.stream_principal)
            .map_err(|e| e.to_string())?;
        self.limits.validate()
    }
}

/// Workers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerConfig {
    /// Queues this worker serves and how many steps of each run at once.
    pub queues: BTreeMap<String, QueueWorkerConfig>,
    /// Lease length in milliseconds (a killed worker's jobs run again about this long later).
    pub lease_ms: u64,
    /// After SIGTERM/SIGINT, how long running steps may take to finish before they are
    /// interrupted and handed back to the queue, in milliseconds.
    pub drain_ms: u64,
    /// Retry policy of job kinds without their own.
    pub default_retry: RetryPolicy,
    /// Where `creel worker` serves `GET /livez` and `GET /readyz` for Kubernetes probes (and
    /// `/metrics`, when `telemetry.metrics_listen` is the same address); unset, it serves none.
    pub health_listen: Option<String>,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            queues: BTreeMap::from([("default".to_owned(), QueueWorkerConfig::default())]),
            lease_ms: 30_000,
            drain_ms: 20_000,
            default_retry: RetryPolicy::default(),
            health_listen: None,
        }
    }
}

/// One queue served by a worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueWorkerConfig {
    /// Steps of this queue running at once in one process.
    pub concurrency: usize,
}

impl Default for QueueWorkerConfig {
    fn default() -> Self {
        Self { concurrency: 8 }
    }
}

/// The vendors creel speaks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Vendor {
    /// Plaso (伯索): classroom export (`transferVideo`, `getVideoTask`).
    Plaso,
    /// Baijiayun (百家云): playback, pure video, VOD, dual-teacher.
    Baijiayun,
    /// WeClassroom (直播云): lessons and replays.
    Weclassroom,
}

impl Vendor {
    /// The name used in config, metrics and CLI arguments.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plaso => "plaso",
            Self::Baijiayun => "baijiayun",
            Self::Weclassroom => "weclassroom",
        }
    }
}

impl std::str::FromStr for Vendor {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "plaso" => Ok(Self::Plaso),
            "baijiayun" => Ok(Self::Baijiayun),
            "weclassroom" => Ok(Self::Weclassroom),
            other => Err(format!(
                "unknown vendor {other:?} (plaso, baijiayun or weclassroom)"
            )),
        }
    }
}

impl fmt::Display for Vendor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A vendor account: which vendor, its credentials and where to reach it. Endpoint paths,
/// quotas and Plaso's request encoding have documented defaults in `creel-vendors`; the fields
/// here override them (the simulator, a private domain, a path the vendor moved).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VendorAccount {
    /// `plaso`, `baijiayun` or `weclassroom`.
    pub vendor: Vendor,
    /// The account's id at the vendor (Plaso `appId`, Baijiayun `partner_id`, WeClassroom
    /// `applicationID`).
    pub id: String,
    /// Its signing secret (Plaso app secret, Baijiayun `partner_key`, WeClassroom's 32-byte
    /// key).
    pub secret: Secret,
    /// Base URL override (the simulator, a Baijiayun private domain
    /// `https://<domain>.at.baijiayun.com`).
    #[serde(default)]
    pub base_url: Option<String>,
    /// Endpoint path overrides by endpoint name (see the README's vendor tables).
    #[serde(default)]
    pub paths: BTreeMap<String, String>,
    /// Per-call timeout, in milliseconds.
    #[serde(default = "default_vendor_timeout_ms")]
    pub timeout_ms: u64,
    /// The account's request quota; default: [`Vendor::default_quota`].
    #[serde(default)]
    pub quota: Option<QuotaConfig>,
    /// Vendor answer codes that mean "rate limited" (besides HTTP 429/503), since the vendors
    /// do not document one.
    #[serde(default)]
    pub rate_limit_codes: Vec<i64>,
    /// How Plaso requests are sent: `json` (POST, JSON body; the default), `form` (POST,
    /// form body) or `query` (GET, query string). Other vendors ignore it.
    #[serde(default)]
    pub encoding: Option<RequestEncoding>,
    /// Plaso: lifetime of a signature (`validTime`), in seconds.
    #[serde(default = "default_valid_time_secs")]
    pub valid_time_secs: u64,
    /// Plaso: how far in the past `validBegin` starts, for clock skew, in seconds.
    #[serde(default = "default_clock_skew_secs")]
    pub clock_skew_secs: u64,
    /// The unguessable token in this account's callback URL
    /// (`/callbacks/plaso/<token>`); Plaso callbacks are unsigned, so the token
    /// is what authenticates them.
    #[serde(default)]
    pub callback_token: Option<Secret>,
}

/// How a request's parameters travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestEncoding {
    /// POST with a JSON body.
    Json,
    /// POST with an `application/x-www-form-urlencoded` body.
    Form,
    /// GET with the parameters in the query string.
    Query,
}

/// A request quota: at most `requests` calls in any sliding `window_ms`, across every replica.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaConfig {
    /// Calls allowed per window.
    pub requests: u32,
    /// The sliding window, in milliseconds.
    pub window_ms: u64,
    /// Safety margin added to the window when spacing calls (absorbs the spread of network
    /// delays); default 1% of the window, at least 20 ms.
    #[serde(default)]
    pub margin_ms: Option<u64>,
    /// Sub-quotas of single endpoints (by endpoint name), on top of the account's.
    #[serde(default)]
    pub endpoints: BTreeMap<String, EndpointQuota>,
    /// At most this many calls of this account in flight at once in one process.
    #[serde(default)]
    pub max_concurrent: Option<u32>,
}

/// A sub-quota of one endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointQuota {
    /// Calls allowed per window.
    pub requests: u32,
    /// The sliding window, in milliseconds.
    pub window_ms: u64,
}

impl QuotaConfig {
    /// `requests` per `window_ms` with the default margin and no sub-quotas.
    #[must_use]
    pub fn new(requests: u32, window_ms: u64) -> Self {
        Self {
            requests,
            window_ms,
            margin_ms: None,
            endpoints: BTreeMap::new(),
            max_concurrent: None,
        }
    }

    /// The margin in force.
    #[must_use]
    pub fn margin_ms(&self) -> u64 {
        self.margin_ms.unwrap_or((self.window_ms / 100).max(20))
    }

    /// Checks what serde cannot: positive counts and windows.
    pub fn validate(&self) -> Result<(), String> {
        if self.requests == 0 || self.window_ms == 0 {
            return Err("quota.requests and quota.window_ms must be positive".into());
        }
        for (name, e) in &self.endpoints {
            if e.requests == 0 || e.window_ms == 0 {
                return Err(format!(
                    "quota.endpoints.{name}: requests and window_ms must be positive"
                ));
            }
        }
        if self.max_concurrent == Some(0) {
            return Err("quota.max_concurrent must be at least 1".into());
        }
        Ok(())
    }
}

impl Vendor {
    /// The quota an account of this vendor gets unless its config says otherwise: Baijiayun's
    /// documented 200 per 10 s; Plaso and WeClassroom document none, so a conservative 50 per
    /// 10 s.
    #[must_use]
    pub fn default_quota(self) -> QuotaConfig {
        match self {
            Self::Baijiayun => QuotaConfig::new(200, 10_000),
            Self::Plaso | Self::Weclassroom => QuotaConfig::new(50, 10_000),
        }
    }
}

impl VendorAccount {
    /// The quota in force: the configured one or the vendor's default.
    #[must_use]
    pub fn effective_quota(&self) -> QuotaConfig {
        self.quota
            .clone()
            .unwrap_or_else(|| self.vendor.default_quota())
    }
}

/// The cluster-wide rate limiter.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimiterConfig {
    /// The longest a call waits for its slot while holding a worker; a longer wait gives the
    /// slot back and reschedules the step (`RetryAfter`), in milliseconds.
    pub horizon_ms: u64,
    /// How long a call waits for Redis before failing closed, in milliseconds.
    pub redis_timeout_ms: u64,
    /// After failing closed (Redis unreachable), retry the step this much later, in
    /// milliseconds.
    pub fail_closed_retry_ms: u64,
    /// How many quota reservations one process may ask Redis for per second, per account
    /// (default: four times the account's rate, at least 10).
    pub local_asks_per_sec: Option<u32>,
}

impl Default for LimiterConfig {
    fn default() -> Self {
        Self {
            horizon_ms: 5_000,
            redis_timeout_ms: 1_000,
            fail_closed_retry_ms: 1_000,
            local_asks_per_sec: None,
        }
    }
}

fn default_vendor_timeout_ms() -> u64 {
    30_000
}

fn default_valid_time_secs() -> u64 {
    300
}

fn default_clock_skew_secs() -> u64 {
    5
}

impl VendorAccount {
    /// An account of `vendor` with every optional field at its default.
    pub fn new(vendor: Vendor, id: impl Into<String>, secret: Secret) -> Self {
        Self {
            vendor,
            id: id.into(),
            secret,
            base_url: None,
            paths: BTreeMap::new(),
            timeout_ms: default_vendor_timeout_ms(),
            quota: None,
            rate_limit_codes: Vec::new(),
            encoding: None,
            valid_time_secs: default_valid_time_secs(),
            clock_skew_secs: default_clock_skew_secs(),
            callback_token: None,
        }
    }
}

/// Where a job's output is stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, tag = "type", rename_all = "snake_case")]
pub enum StorageProfile {
    /// A local directory (development, the demo): objects are files, written atomically.
    Dir {
        /// The directory.
        path: PathBuf,
    },
    /// An S3 bucket, or an S3-compatible store (MinIO, Ceph…) with `endpoint` and
    /// `path_style`.
    S3(S3Profile),
    /// An Aliyun OSS bucket, through OSS's S3-compatible endpoint.
    Oss(OssProfile),
}

/// An Aliyun OSS storage profile.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OssProfile {
    /// The bucket.
    pub bucket: String,
    /// The OSS region without the `oss-` prefix, e.g. `cn-hangzhou`.
    pub region: String,
    /// Use the internal endpoint (`s3.oss-<region>-internal.aliyuncs.com`, free traffic from
    /// ECS in the same region).
    #[serde(default)]
    pub internal: bool,
    /// A custom domain bound to the bucket's region, instead of the standard endpoint.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Prepended to every object key.
    #[serde(default)]
    pub prefix: String,
    /// AccessKey ID (RAM user).
    pub access_key_id: String,
    /// AccessKey secret.
    pub access_key_secret: Secret,
    /// Part size in MiB (5 to 5120); default `max(16 MiB, size / 9000)`.
    #[serde(default)]
    pub part_size_mib: Option<u64>,
    /// Parts uploaded at once per object.
    #[serde(default = "default_parts_in_flight")]
    pub parts_in_flight: usize,
}

/// An S3 storage profile.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Profile {
    /// The bucket.
    pub bucket: String,
    /// The region, e.g. `us-east-1`.
    pub region: String,
    /// Prepended to every object key, e.g. `lessons/`.
    #[serde(default)]
    pub prefix: String,
    /// An endpoint override for S3-compatible stores.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Path-style addressing (`endpoint/bucket/key`), which most S3-compatible stores need.
    #[serde(default)]
    pub path_style: bool,
    /// Access key id; without it the default AWS credential chain is used.
    #[serde(default)]
    pub access_key_id: Option<String>,
    /// Secret access key (with `access_key_id`).
    #[serde(default)]
    pub secret_access_key: Option<Secret>,
    /// Part size in MiB; default `max(16 MiB, size / 9000)`.
    #[serde(default)]
    pub part_size_mib: Option<u64>,
    /// Parts uploaded at once per object.
    #[serde(default = "default_parts_in_flight")]
    pub parts_in_flight: usize,
    /// How each part (and a single PUT) is protected in transit.
    #[serde(default)]
    pub part_checksum: PartChecksum,
}

/// The per-part integrity check an S3 sink sends with every part and single PUT. Either way the
/// whole-file MD5 is computed once while streaming, for the job's result and the vendor's MD5.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PartChecksum {
    /// `x-amz-checksum-crc32c` (S3's flexible checksums): hardware-accelerated, so a part costs
    /// next to nothing to protect. The default.
    #[default]
    Crc32c,
    /// `Content-MD5`: for stores without flexible checksums (Aliyun OSS uses it). A second MD5
    /// pass over every byte.
    Md5,
}

fn default_parts_in_flight() -> usize {
    4
}

impl S3Profile {
    /// Checks what serde cannot: S3 parts are 5 MiB to 5 GiB (all but the last); at least one
    /// part in flight.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(mib) = self.part_size_mib
            && !(5..=5120).contains(&mib)
        {
            return Err(format!(
                "part_size_mib must be 5 to 5120 (S3's part limits), not {mib}"
            ));
        }
        if self.parts_in_flight == 0 {
            return Err("parts_in_flight must be at least 1".into());
        }
        if self.bucket.is_empty() || self.region.is_empty() {
            return Err("bucket and region are required".into());
        }
        Ok(())
    }
}

impl OssProfile {
    /// OSS through its S3-compatible endpoint, as an S3 profile: `s3.oss-<region>[-internal]
    /// .aliyuncs.com` (or the custom domain), virtual-hosted addressing, signing region
    /// `oss-<region>`. Every OSS specific of creel is here and in creel-storage's `oss` module.
    #[must_use]
    pub fn as_s3(&self) -> S3Profile {
        let internal = if self.internal { "-internal" } else { "" };
        S3Profile {
            bucket: self.bucket.clone(),
            region: format!("oss-{}", self.region),
            prefix: self.prefix.clone(),
            endpoint: Some(self.endpoint.clone().unwrap_or_else(|| {
                format!("https://s3.oss-{}{internal}.aliyuncs.com", self.region)
            })),
            path_style: false,
            access_key_id: Some(self.access_key_id.clone()),
            secret_access_key: Some(self.access_key_secret.clone()),
            part_size_mib: self.part_size_mib,
            parts_in_flight: self.parts_in_flight,
            // OSS's S3-compatible API documents Content-MD5; its own CRC-64 is not an S3 header.
            part_checksum: PartChecksum::Md5,
        }
    }
}

impl Config {
    /// Checks the cross-field rules of the whole configuration; the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        self.api.validate()?;
        self.download.validate()?;
        self.retention.validate()?;
        self.events.webhook.validate()?;
        if let Some(q) = &self.events.webhook.queue
            && !self.worker.queues.contains_key(q)
        {
            return Err(format!(
                "events.webhook.queue: no queue named {q:?} is declared in worker.queues"
            ));
        }
        self.classroom.validate()?;
        self.telemetry.validate()?;
        for (i, rule) in self.classroom.auto_archive.iter().enumerate() {
            let field = format!("classroom.auto_archive[{i}]");
            match self.accounts.get(&rule.account) {
                Some(a) if a.vendor == Vendor::Baijiayun => {}
                _ => {
                    return Err(format!(
                        "{field}.account: {:?} is not a configured Baijiayun account",
                        rule.account
                    ));
                }
            }
            if !self.storage.contains_key(&rule.profile) {
                return Err(format!(
                    "{field}.profile: no storage profile named {:?} is configured",
                    rule.profile
                ));
            }
        }
        for (name, a) in &self.accounts {
            if let Some(q) = &a.quota {
                q.validate().map_err(|e| format!("accounts.{name}.{e}"))?;
            }
        }
        for (name, p) in &self.storage {
            let checked = match p {
                StorageProfile::S3(s3) => s3.validate(),
                StorageProfile::Oss(oss) => oss.as_s3().validate(),
                StorageProfile::Dir { .. } => Ok(()),
            };
            checked.map_err(|e| format!("storage.{name}: {e}"))?;
        }
        Ok(())
    }
}

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
    pub fn validate(&self) -> Result<(), String> {
        for (i, a) in self.allow.iter().enumerate() {
            let url = url::Url::parse(a)
                .map_err(|e| format!("events.webhook.allow[{i}]: not a URL: {e}"))?;
            if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
                return Err(format!(
                    "events.webhook.allow[{i}]: must be an http(s) URL with a host"
                ));
            }
        }
        if !self.allow.is_empty() && self.signing_keys().is_empty() {
            return Err(
                "events.webhook.secrets: webhooks are allowed but no key signs them; \
                        give at least one secret"
                    .into(),
            );
        }
        for (i, k) in self.signing_keys().iter().enumerate() {
            if webhook_key_bytes(k.expose()).is_none_or(|b| b.len() < MIN_WEBHOOK_KEY_BYTES) {
                return Err(format!(
                    "events.webhook.secrets[{i}]: must be whsec_<base64> or at least \
                     {MIN_WEBHOOK_KEY_BYTES} bytes"
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

/// Rules for download sources (untrusted URLs): which hosts may be fetched, and the bounds
/// that keep a hostile or broken source from holding a worker slot forever.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DownloadConfig {
    /// Hosts (names or IP addresses, as written in URLs) that may be fetched although they are
    /// or resolve to loopback, private, link-local, CGNAT, multicast or metadata addresses: the
    /// vendor simulator, tests, the demo. Empty in production.
    pub allow_hosts: Vec<String>,
    /// The largest object a download may store, in bytes (default 50 GiB); a job's
    /// `payload.max_bytes` may set a lower one. Exceeding it fails the job for good.
    pub max_bytes: u64,
    /// The slowest average throughput a transfer may keep over each
    /// `throughput_window_secs`, in bytes per second; slower fails the job for good.
    pub min_bytes_per_sec: u64,
    /// The window over which `min_bytes_per_sec` is judged, in seconds.
    pub throughput_window_secs: u64,
    /// The longest one attempt of a download may take, in seconds.
    pub max_attempt_secs: u64,
}

impl Default for DownloadConfig {
    fn default() -> Self {
        Self {
            allow_hosts: Vec::new(),
            max_bytes: 50 << 30,
            min_bytes_per_sec: 16 * 1024,
            throughput_window_secs: 60,
            max_attempt_secs: 6 * 3600,
        }
    }
}

impl DownloadConfig {
    /// Every bound must be positive.
    pub fn validate(&self) -> Result<(), String> {
        all_positive(
            "download",
            &[
                ("max_bytes", self.max_bytes),
                ("throughput_window_secs", self.throughput_window_secs),
                ("max_attempt_secs", self.max_attempt_secs),
            ],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let t = ApiToken {
            name: "svc".into(),
            token: Secret::new("hunter2"),
            scopes: default_scopes(),
        };
        assert!(!format!("{t:?}").contains("hunter2"));
        let json = serde_json::to_string(&t).expect("serializes");
        assert!(!json.contains("hunter2") && json.contains("***"));
        assert_eq!(t.token.expose(), "hunter2");
    }

    #[test]
    fn unknown_fields_are_errors() {
        let err =
            serde_json::from_str::<Config>(r#"{"redis": {"urll": "x"}}"#).expect_err("unknown");
        assert!(err.to_string().contains("urll"), "{err}");
    }

    #[test]
    fn storage_profiles_are_tagged_by_type() {
        let p: StorageProfile =
            serde_json::from_str(r#"{"type":"dir","path":"/tmp/x"}"#).expect("dir");
        assert!(matches!(p, StorageProfile::Dir { .. }));
    }
}

#[cfg(test)]
mod profile_tests {
    use super::*;

    #[test]
    fn s3_profiles_parse_and_refuse_unknown_fields() {
        let p: StorageProfile = toml::from_str(
            "type = \"s3\"\nbucket = \"b\"\nregion = \"us-east-1\"\nendpoint = \"http://127.0.0.1:9000\"\npath_style = true\n",
        )
        .expect("s3 profile");
        assert!(
            matches!(p, StorageProfile::S3(ref s) if s.bucket == "b" && s.parts_in_flight == 4)
        );
        let err = toml::from_str::<StorageProfile>(
            "type = \"s3\"\nbucket = \"b\"\nregion = \"r\"\nbukket = 1\n",
        )
        .expect_err("typo");
        assert!(err.to_string().contains("bukket"), "{err}");
    }
}

#[cfg(test)]
mod validate_tests {
    use super::*;

    #[test]
    fn s3_part_sizes_outside_s3_limits_are_refused_with_the_profile_named() {
        let mut cfg = Config::default();
        let p: S3Profile =
            toml::from_str("bucket = \"b\"\nregion = \"r\"\npart_size_mib = 1\n").expect("parses");
        cfg.storage.insert("archive".into(), StorageProfile::S3(p));
        let err = cfg.validate().expect_err("1 MiB parts");
        assert!(
            err.contains("storage.archive") && err.contains("part_size_mib"),
            "{err}"
        );
    }

    #[test]
    fn an_auto_archive_rule_names_its_bad_field() {
        let mut cfg = Config::default();
        cfg.classroom
            .auto_archive
            .push(crate::classroom::AutoArchiveRule {
                account: "nobody".into(),
                on: crate::classroom::ArchiveTrigger::Transcode,
                room_ids: Vec::new(),
                produce: crate::classroom::ArchiveProduct::Vod,
                profile: "local".into(),
                key: None,
                owner: "auto-archive".into(),
            });
        let err = cfg.validate().expect_err("unknown account");
        assert!(
            err.starts_with("classroom.auto_archive[0].account"),
            "{err}"
        );
    }
}
