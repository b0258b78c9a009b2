//! The harness every creel integration test uses: a private `redis-server` on a free port in a
//! temporary directory (never the developer's 6379), or a private Redis Cluster when
//! `TEST_REDIS=cluster`, and helpers to run queue workers.

pub mod checked_fs;
pub mod failover;
pub mod limiter_fleet;
pub mod probe;
pub mod properties;
pub mod redis_cluster;
pub mod redis_sentinel;
pub mod s3_server;
pub mod stack;
pub mod test_redis;
pub mod traced;
pub mod vendor_sim;
pub mod worker_processes;
pub mod workers;

pub use creel_queue::embedded::RedisServer;
pub use test_redis::{TestConnection, TestRedis};
pub use workers::{RunningWorker, start_queue, start_queue_with, test_config, test_config_on};
