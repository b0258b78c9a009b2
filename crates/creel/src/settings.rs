//! Loading the configuration: built-in defaults, then a TOML file, then `CREEL_…` environment
//! variables (`__` separates levels: `CREEL_REDIS__URL`, `CREEL_WORKER__DRAIN_MS`). Unknown
//! fields are errors wherever they come from.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use creel_core::Config;
use creel_queue::QueueConfig;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};

/// Loads the configuration from `file` (if given) and the environment.
pub fn load(file: Option<&Path>) -> anyhow::Result<Config> {
    let mut fig = Figment::from(Serialized::defaults(Config::default()));
    if let Some(path) = file {
        anyhow::ensure!(
            path.exists(),
            "config file {} does not exist",
            path.display()
        );
        fig = fig.merge(Toml::file(path));
    }
    // CREEL_LOG (the log filter), CREEL_LOG_FORMAT and CREEL_CONFIG (the file) are the
    // binary's own variables, not config fields; without the ignore, setting one made every
    // load fail.
    fig = fig.merge(
        Env::prefixed("CREEL_")
            .ignore(&["LOG", "LOG_FORMAT", "CONFIG"])
            .split("__"),
    );
    let config = fig
        .extract::<Config>()
        .map_err(|e| anyhow::format_err!("invalid configuration: {}", describe(e)))
        .context("loading the configuration")?;
    config
        .validate()
        .map_err(|e| anyhow::format_err!("invalid configuration: {e}"))?;
    for (name, account) in &config.accounts {
        creel_vendors::validate_account(name, account)
            .map_err(|e| anyhow::format_err!("invalid configuration: {e}"))?;
    }
    Ok(config)
}

/// A figment error without the values it found: a secret given in the environment (a token
/// that looks like a number, say) must not be echoed into logs. Field paths, what was expected
/// and where the value came from are kept.
fn describe(err: figment::Error) -> String {
    use figment::error::Kind;
    err.into_iter()
        .map(|e| {
            let what = match &e.kind {
                Kind::InvalidType(_, expected) => format!("invalid type: expected {expected}"),
                Kind::InvalidValue(_, expected) => format!("invalid value: expected {expected}"),
                other => other.to_string(),
            };
            let path = e.path.join(".");
            let source = e
                .metadata
                .as_ref()
                .map(|m| format!(" (from {})", m.name))
                .unwrap_or_default();
            if path.is_empty() {
                format!("{what}{source}")
            } else {
                format!("{path}: {what}{source}")
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Where Redis is: the cluster's seed nodes when `redis.cluster` names any, the primary the
/// Sentinels name when `redis.sentinel` is set, else `redis.url`.
#[must_use]
pub fn redis_target(cfg: &Config) -> creel_redis::RedisTarget {
    if let Some(sentinel) = &cfg.redis.sentinel {
        creel_redis::RedisTarget::Sentinel(creel_redis::SentinelSpec {
            master_name: sentinel.master_name.clone(),
            sentinels: sentinel.nodes.clone(),
            master_url: cfg.redis.url.clone(),
        })
    } else if cfg.redis.cluster.is_empty() {
        creel_redis::RedisTarget::Server(cfg.redis.url.clone())
    } else {
        creel_redis::RedisTarget::Cluster(cfg.redis.cluster.clone())
    }
}

/// The queue settings the configuration implies.
#[must_use]
pub fn queue_config(cfg: &Config) -> QueueConfig {
    let mut q = QueueConfig::on(redis_target(cfg));
    q.prefix.clone_from(&cfg.redis.prefix);
    q.response_timeout = Duration::from_millis(cfg.redis.response_timeout_ms);
    q.wait_replicas = cfg.redis.wait_replicas;
    q.wait_timeout = Duration::from_millis(cfg.redis.wait_timeout_ms);
    q.lease = Duration::from_millis(cfg.worker.lease_ms);
    q.events_max_len = cfg.events.max_len;
    q.default_retry = cfg.worker.default_retry;
    q.retry = cfg.retry.clone();
    // Webhook deliveries keep their own settings' policy unless `[retry.webhook]` names one.
    q.retry
        .entry("webhook".to_owned())
        .or_insert_with(|| cfg.events.webhook.retry_policy());
    q.idempotency_ttl = Some(Duration::from_secs(cfg.retention.idempotency_secs));
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::result_large_err)]
    fn a_file_and_the_environment_layer_over_the_defaults() {
        let dir = std::env::temp_dir().join(format!("creel-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("creel.toml");
        std::fs::write(
            &file,
            "[redis]\nurl = \"redis://10.0.0.1:6379/\"\n[storage.local]\ntype = \"dir\"\npath = \"/data\"\n[[api.tokens]]\nname = \"svc\"\ntoken = \"s3cret-s3cret-s3cret-s3cret-s3cret\"\n",
        )
        .expect("write");
        figment::Jail::expect_with(|jail| {
            jail.set_env("CREEL_WORKER__DRAIN_MS", "1234");
            // The binary's own variables are not config fields.
            jail.set_env("CREEL_LOG", "debug");
            jail.set_env("CREEL_LOG_FORMAT", "json");
            jail.set_env("CREEL_CONFIG", "/elsewhere.toml");
            let cfg = load(Some(&file)).expect("loads");
            assert_eq!(cfg.redis.url, "redis://10.0.0.1:6379/");
            assert_eq!(cfg.worker.drain_ms, 1234);
            assert!(cfg.storage.contains_key("local"));
            assert_eq!(
                cfg.api.tokens[0].token.expose(),
                "s3cret-s3cret-s3cret-s3cret-s3cret"
            );
            Ok(())
        });
    }

    #[test]
    fn the_example_config_loads() {
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/creel.example.toml");
        let cfg = load(Some(&file)).expect("deploy/creel.example.toml must stay valid");
        assert_eq!(cfg.retry["download"].max_attempts, 8);
        assert_eq!(
            cfg.accounts["bjy-main"].vendor,
            creel_core::config::Vendor::Baijiayun
        );
    }

    #[test]
    #[allow(clippy::result_large_err)]
    fn a_secret_of_the_wrong_type_is_not_echoed() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("CREEL_REDIS__URL", "987654321987654321");
            let err = load(None).expect_err("a number is not a URL string");
            let text = format!("{err:#}");
            assert!(!text.contains("987654321"), "{text}");
            assert!(text.contains("redis.url"), "{text}");
            Ok(())
        });
    }

    #[test]
    fn unknown_fields_are_errors() {
        let dir = std::env::temp_dir().join(format!("creel-settings-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("creel.toml");
        std::fs::write(&file, "[worker]\nconcurency = 3\n").expect("write");
        let err = load(Some(&file)).expect_err("typo must fail");
        assert!(format!("{err:#}").contains("concurency"), "{err:#}");
    }
}
