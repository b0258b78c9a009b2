//! One side of `just bench-queue`: enqueue N no-op jobs with creel-queue (batches of 1,000),
//! then drain them with one apalis worker at concurrency C, and print
//! `creel enqueue_s=<f> drain_s=<f> jobs=<n>`. With `--otlp <endpoint>` every job is traced
//! (send, process and ack spans) to that collector, for the telemetry-on round. bench/queue/run.sh runs BullMQ the same way
//! against the same Redis and prints the ratio.

use std::time::{Duration, Instant};

use clap::Parser;
use creel::telemetry::Exposition;
use creel_core::telemetry::JobParent;
use creel_core::{JobError, JobRequest, JobState};
use creel_queue::{JobContext, Queue, QueueConfig, RedisBackend};
use serde_json::{Value, json};
use tracing::Instrument;

/// The allocator the `creel` binary runs with, so the bench measures what a worker costs.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
struct Args {
    /// The Redis to use (flushed by the caller between runs).
    redis_url: String,
    /// Jobs to enqueue and drain.
    jobs: usize,
    /// Jobs in flight at once.
    concurrency: usize,
    /// Bytes of padding in each payload.
    #[arg(long, default_value_t = 100)]
    pad: usize,
    /// Trace every job (send, process and ack spans, sampler always on) to this OTLP/gRPC
    /// endpoint, as a creel worker with telemetry does.
    #[arg(long)]
    otlp: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let telemetry = args
        .otlp
        .clone()
        .map(|endpoint| creel_tests::traced::export_all_to(endpoint, Exposition::Nothing));
    let mut cfg = QueueConfig::new(&args.redis_url);
    cfg.fetch_batch = args.concurrency.max(1);
    let q = Queue::connect(cfg).await?;
    let pad = "x".repeat(args.pad);

    let t0 = Instant::now();
    let mut i = 0;
    while i < args.jobs {
        let n = (args.jobs - i).min(1000);
        let batch = (i..i + n)
            .map(|k| JobRequest::new("noop", json!({ "n": k, "pad": pad })))
            .collect();
        q.enqueue_batch(batch).await?;
        i += n;
    }
    let enqueue_s = t0.elapsed().as_secs_f64();

    let t1 = Instant::now();
    // Each step in a process span, as creel's worker runs it (a no-op span without a
    // subscriber).
    let worker = creel_tests::run_worker!(
        RedisBackend::<Value>::new(q.clone(), "default"),
        args.concurrency,
        |_j: Value, ctx: apalis_core::task::data::Data<JobContext>| {
            let span = creel::worker::process_span(&ctx, JobParent::Link);
            async { Ok::<Value, JobError>(Value::Null) }.instrument(span)
        }
    );
    let target = args.jobs as u64;
    while q.counts("default").await?.get(JobState::Succeeded) < target {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let drain_s = t1.elapsed().as_secs_f64();
    worker.stop().await?;
    if let Some(t) = telemetry {
        t.shutdown().await;
    }
    say(&format!(
        "creel enqueue_s={enqueue_s:.3} drain_s={drain_s:.3} jobs={}",
        args.jobs
    ));
    Ok(())
}

#[allow(clippy::print_stdout)]
fn say(line: &str) {
    println!("{line}");
}
