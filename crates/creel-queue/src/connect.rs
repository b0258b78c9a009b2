//! Opening Redis connections with creel's timeouts instead of the client's 500 ms default,
//! which would turn one slow reply into a failed worker.

use std::time::Duration;

use creel_redis::{RedisConnection, Timeouts};

use crate::QueueConfig;

/// A reconnecting, multiplexed connection (to a server or a cluster) with the configured
/// response timeout.
pub(crate) async fn connection(cfg: &QueueConfig) -> redis::RedisResult<RedisConnection> {
    RedisConnection::open(
        &cfg.redis,
        Timeouts {
            response: cfg.response_timeout,
            connect: Duration::from_secs(5),
            retries: 3,
            max_delay: Duration::from_secs(2),
        },
    )
    .await
}
