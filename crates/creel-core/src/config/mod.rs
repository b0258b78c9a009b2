//! creel's configuration model: Redis, the API and its tokens, workers and queues, retry
//! policies, vendor accounts, storage profiles and completion-event sinks. Every field has a
//! default or is required, unknown fields are errors, and secrets print as `***`. Loading (TOML
//! file plus `CREEL_…` environment overrides) is the binary's job; this is only the shape.

mod accounts;
mod api;
mod archive;
mod costs;
mod error;
mod events;
mod limits;
mod redis;
mod storage;
mod worker;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::RetryPolicy;

pub use accounts::*;
pub use api::*;
pub use archive::*;
pub use costs::*;
pub use error::ConfigError;
pub(crate) use error::all_positive;
pub use events::*;
pub use limits::*;
pub use redis::*;
pub use storage::*;
pub use worker::*;

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
    /// Prices, the usage calendar and budgets per vendor account.
    pub costs: CostsConfig,
    /// Backfill: how `archive.scan` jobs walk a vendor's lessons.
    pub archive: ArchiveConfig,
}

impl Config {
    /// Checks the cross-field rules of the whole configuration; the error names the field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.api.validate()?;
        self.redis.validate()?;
        if self.redis.wait_replicas > 0
            && self.redis.wait_timeout_ms >= self.redis.response_timeout_ms
        {
            return Err(ConfigError::invalid(
                "redis.wait_timeout_ms",
                "must be below redis.response_timeout_ms (a WAIT longer than a command may \
                 take would count as a Redis failure)",
            ));
        }
        self.download.validate()?;
        self.retention.validate()?;
        self.events.webhook.validate()?;
        if let Some(q) = &self.events.webhook.queue
            && !self.worker.queues.contains_key(q)
        {
            return Err(ConfigError::NotConfigured {
                field: "events.webhook.queue".into(),
                what: "queue (in worker.queues)",
                name: q.clone(),
            });
        }
        self.classroom.validate()?;
        self.telemetry.validate()?;
        self.costs.validate(&self.accounts)?;
        self.archive.validate()?;
        for (i, rule) in self.classroom.auto_archive.iter().enumerate() {
            let field = format!("classroom.auto_archive[{i}]");
            match self.accounts.get(&rule.account) {
                Some(a) if a.vendor == Vendor::Baijiayun => {}
                _ => {
                    return Err(ConfigError::NotConfigured {
                        field: format!("{field}.account"),
                        what: "Baijiayun account",
                        name: rule.account.clone(),
                    });
                }
            }
            if !self.storage.contains_key(&rule.profile) {
                return Err(ConfigError::NotConfigured {
                    field: format!("{field}.profile"),
                    what: "storage profile",
                    name: rule.profile.clone(),
                });
            }
        }
        for (name, a) in &self.accounts {
            if let Some(q) = &a.quota {
                q.validate()
                    .map_err(|e| e.within(&format!("accounts.{name}")))?;
            }
        }
        for (name, p) in &self.storage {
            let checked = match p {
                StorageProfile::S3(s3) => s3.validate(),
                StorageProfile::Oss(oss) => oss.as_s3().validate(),
                StorageProfile::Dir { .. } => Ok(()),
            };
            checked.map_err(|e| e.within(&format!("storage.{name}")))?;
        }
        Ok(())
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
            scopes: api::default_scopes(),
        };
        assert!(!format!("{t:?}").contains("hunter2"));
        let json = serde_json::to_string(&t).expect("serializes");
        assert!(!json.contains("hunter2") && json.contains("***"));
        assert_eq!(t.token.expose(), "hunter2");
    }

    #[test]
    fn redis_topology_errors_name_the_field() {
        let field = |json: &str| {
            let cfg: Config = serde_json::from_str(json).expect("parses");
            match cfg.validate() {
                Err(ConfigError::Invalid { field, .. }) => field,
                other => panic!("{json}: {other:?}"),
            }
        };
        assert_eq!(
            field(
                r#"{"redis": {"cluster": ["redis://a:7000"], "sentinel": {"master_name": "m", "nodes": ["redis://s:26379"]}}}"#
            ),
            "redis.sentinel"
        );
        assert_eq!(
            field(r#"{"redis": {"sentinel": {"master_name": "m", "nodes": []}}}"#),
            "redis.sentinel.nodes"
        );
        assert_eq!(
            field(r#"{"redis": {"cluster": ["a:7000"]}}"#),
            "redis.cluster[0]"
        );
        assert_eq!(field(r#"{"redis": {"prefix": "cr{eel}"}}"#), "redis.prefix");
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
mod validate_tests {
    use super::*;

    #[test]
    fn s3_part_sizes_outside_s3_limits_are_refused_with_the_profile_named() {
        let mut cfg = Config::default();
        let p: S3Profile =
            toml::from_str("bucket = \"b\"\nregion = \"r\"\npart_size_mib = 1\n").expect("parses");
        cfg.storage.insert("archive".into(), StorageProfile::S3(p));
        let err = cfg.validate().expect_err("1 MiB parts");
        assert_eq!(err.field(), "storage.archive.part_size_mib", "{err}");
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
        assert_eq!(err.field(), "classroom.auto_archive[0].account", "{err}");
    }
}
