//! Running queue workers inside a test: a worker on its own task with a stop handle.

use std::time::Duration;

use creel_queue::{Queue, QueueConfig};

use crate::TestRedis;
use tokio::sync::oneshot;

/// Queue settings for tests on a single Redis at `redis_url` (see [`test_config_on`]).
#[must_use]
pub fn test_config(redis_url: &str) -> QueueConfig {
    test_config_on(creel_redis::RedisTarget::Server(redis_url.to_owned()))
}

/// Queue settings for tests: short leases so recovery tests take seconds, small batches.
#[must_use]
pub fn test_config_on(target: creel_redis::RedisTarget) -> QueueConfig {
    let mut cfg = QueueConfig::on(target);
    cfg.lease = Duration::from_secs(2);
    cfg.fetch_batch = 8;
    cfg.idle_poll = Duration::from_secs(1);
    cfg
}

/// A private Redis (a cluster with `TEST_REDIS=cluster`) and a queue handle on it with
/// [`test_config`].
pub async fn start_queue() -> (TestRedis, Queue) {
    start_queue_with(|_| {}).await
}

/// Like [`start_queue`], with the test's own changes to the configuration.
pub async fn start_queue_with(edit: impl FnOnce(&mut QueueConfig)) -> (TestRedis, Queue) {
    let redis = TestRedis::start();
    let mut cfg = test_config_on(redis.target());
    edit(&mut cfg);
    let q = Queue::connect(cfg).await.expect("connecting to redis");
    (redis, q)
}

/// A worker running on a tokio task.
#[derive(Debug)]
pub struct RunningWorker {
    /// Send to ask for a graceful stop.
    pub stop: oneshot::Sender<()>,
    /// The task running it.
    pub handle: tokio::task::JoinHandle<Result<(), apalis_core::error::WorkerError>>,
}

impl RunningWorker {
    /// Asks the worker to stop gracefully and waits for it (running steps finish first).
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(20), self.handle)
            .await
            .map_err(|_| anyhow::anyhow!("worker did not stop within 20 s"))???;
        Ok(())
    }
}

/// Builds and spawns an apalis worker: `run_worker!(backend, concurrency, handler)`.
#[macro_export]
macro_rules! run_worker {
    ($backend:expr, $concurrency:expr, $handler:expr) => {{
        let worker = ::apalis_core::worker::builder::WorkerBuilder::new(format!(
            "test-{}",
            ::std::process::id()
        ))
        .backend($backend)
        .layer(::tower::limit::ConcurrencyLimitLayer::new($concurrency))
        .build($handler);
        let (stop, stopped) = ::tokio::sync::oneshot::channel::<()>();
        let handle = ::tokio::spawn(worker.run_until(async move {
            let _ = stopped.await;
            Ok::<(), ::std::io::Error>(())
        }));
        $crate::RunningWorker { stop, handle }
    }};
}
