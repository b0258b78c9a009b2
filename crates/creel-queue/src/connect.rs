//! Opening Redis connections with creel's timeouts instead of the client's 500 ms default,
//! which would turn one slow reply into a failed worker.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::QueueConfig;

/// A reconnecting, multiplexed connection with the configured response timeout.
pub(crate) async fn connection(cfg: &QueueConfig) -> redis::RedisResult<ConnectionManager> {
    let client = redis::Client::open(cfg.redis_url.as_str())?;
    let manager = ConnectionManagerConfig::new()
        .set_response_timeout(Some(cfg.response_timeout))
        .set_connection_timeout(Some(Duration::from_secs(5)))
        .set_number_of_retries(3)
        .set_max_delay(Duration::from_secs(2));
    client.get_connection_manager_with_config(manager).await
}

/// A plain client, for pub/sub.
pub(crate) fn client(cfg: &QueueConfig) -> redis::RedisResult<redis::Client> {
    redis::Client::open(cfg.redis_url.as_str())
}
