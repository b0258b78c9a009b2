//! A worker in its own process, for crash tests: `queue-probe <redis-url> <lease-ms>`.
//! Its handler marks `probe:started` with the job id and then hangs, so a test can kill -9 it
//! mid-step.

use std::time::Duration;

use clap::Parser;
use creel_core::JobError;
use creel_queue::{JobContext, Queue, RedisBackend};
use serde_json::Value;

#[derive(Parser)]
struct Args {
    /// The Redis to take jobs from.
    redis_url: String,
    /// Lease time in milliseconds.
    lease_ms: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut cfg = creel_tests::test_config(&args.redis_url);
    cfg.lease = Duration::from_millis(args.lease_ms);
    let q = Queue::connect(cfg).await?;
    let url = args.redis_url.clone();
    let worker = creel_tests::run_worker!(
        RedisBackend::<Value>::new(q, "default"),
        1,
        move |_j: Value, ctx: apalis_core::task::data::Data<JobContext>| {
            let url = url.clone();
            async move {
                let client =
                    redis::Client::open(url).map_err(|e| JobError::retryable(e.to_string()))?;
                let mut c = client
                    .get_multiplexed_async_connection()
                    .await
                    .map_err(|e| JobError::retryable(e.to_string()))?;
                let _: () = redis::AsyncCommands::set(&mut c, "probe:started", ctx.id.to_string())
                    .await
                    .map_err(|e| JobError::retryable(e.to_string()))?;
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok::<Value, JobError>(Value::Null)
            }
        }
    );
    worker.handle.await??;
    Ok(())
}
