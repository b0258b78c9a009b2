//! creel on one machine, as `creel demo` and the test stack run it: a private Redis, a sample
//! server whose `/hooks/` receives webhooks, a local directory as the `local` storage profile,
//! one API token. Each adds its own settings after (the demo allows sources on 127.0.0.1; a
//! test decides for itself).

use std::path::Path;

use creel_core::config::{ApiToken, QueueWorkerConfig, StorageProfile};
use creel_core::{Config, Secret};

/// Where the local pieces are.
#[derive(Debug)]
pub struct LocalParts<'a> {
    /// The private Redis.
    pub redis_url: String,
    /// The `local` profile's directory.
    pub out_dir: &'a Path,
    /// The sample server's base URL; its `/hooks/` is the one allowed webhook target.
    pub samples_base: &'a str,
    /// The key the sample server verifies webhook signatures with.
    pub hook_secret: &'a str,
    /// The API token.
    pub token: ApiToken,
}

/// The configuration of `parts`: the queue `default` with 4 steps at once.
#[must_use]
pub fn local_config(parts: LocalParts<'_>) -> Config {
    let mut config = Config::default();
    config.redis.url = parts.redis_url;
    config.api.tokens.push(parts.token);
    config.storage.insert(
        "local".into(),
        StorageProfile::Dir {
            path: parts.out_dir.to_path_buf(),
        },
    );
    config.worker.queues.insert(
        "default".into(),
        QueueWorkerConfig {
            concurrency: 4,
            ..QueueWorkerConfig::default()
        },
    );
    config
        .events
        .webhook
        .allow
        .push(format!("{}/hooks/", parts.samples_base));
    config.events.webhook.secrets = vec![Secret::new(parts.hook_secret)];
    config
}
