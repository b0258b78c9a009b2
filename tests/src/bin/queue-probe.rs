//! A worker in its own process, for crash tests: `queue-probe <redis> <lease-ms>`, where
//! `<redis>` is a URL or a cluster's node URLs joined by commas.
//! Its handler marks `probe:started` with the job id and then hangs, so a test can kill -9 it
//! mid-step.

use std::time::Duration;

use clap::Parser;
use creel_core::JobError;
use creel_queue::{JobContext, Queue, RedisBackend};
use serde_json::Value;

#[derive(Parser)]
struct Args {
    /// The Redis to take jobs from (a URL, or cluster node URLs joined by commas).
    redis: String,
    /// Lease time in milliseconds.
    lease_ms: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let target = creel_tests::test_redis::target_of(&args.redis);
    let mut cfg = creel_tests::test_config_on(target.clone());
    cfg.lease = Duration::from_millis(args.lease_ms);
    let q = Queue::connect(cfg).await?;
    let marker = creel_redis::RedisConnection::open(
        &target,
        creel_redis::Timeouts {
            response: Duration::from_secs(5),
            connect: Duration::from_secs(5),
            retries: 3,
            max_delay: Duration::from_secs(1),
        },
    )
    .await?;
    let worker = creel_tests::run_worker!(
        RedisBackend::<Value>::new(q, "default"),
        1,
        move |_j: Value, ctx: apalis_core::task::data::Data<JobContext>| {
            let mut c = marker.clone();
            async move {
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
