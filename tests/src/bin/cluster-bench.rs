//! `just bench-cluster`: Redis CPU per job on a single Redis and on a three-primary Redis
//! Cluster, with the same workload (N no-op jobs spread over three queues whose hash tags fall
//! on different primaries, enqueued in batches of 1,000, then drained by one worker per queue),
//! in one run. Redis CPU is each server's `used_cpu_sys + used_cpu_user` (INFO cpu) before and
//! after; on the cluster, every primary's share of the total is printed too. Throughput is
//! printed for both, though on 2 cores both runs are CPU-bound on the same machine.
//! Last lines: RESULT cluster_cpu_per_job_ratio=<cluster ÷ single> and
//! RESULT cluster_max_primary_share_deviation=<largest |share − 1/3| ÷ 1/3>.

use std::time::{Duration, Instant};

use clap::Parser;
use creel_core::{JobError, JobRequest, JobState};
use creel_queue::{Queue, QueueConfig, RedisBackend};
use creel_redis::RedisTarget;
use creel_tests::RedisServer;
use creel_tests::redis_cluster::RedisCluster;
use serde_json::{Value, json};

#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Three queues whose hash tags fall on the three primaries of a fresh three-node cluster.
const QUEUES: [&str; 3] = ["exports-1", "exports-2", "exports-3"];

#[derive(Parser)]
struct Args {
    /// Jobs per run (split evenly over the three queues).
    #[arg(default_value_t = 30_000)]
    jobs: usize,
    /// Jobs in flight per queue.
    #[arg(default_value_t = 50)]
    concurrency: usize,
}

/// `used_cpu_sys + used_cpu_user` of the Redis on `port`, in seconds.
fn redis_cpu(port: u16) -> anyhow::Result<f64> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/"))?;
    let mut c = client.get_connection()?;
    let info: String = redis::cmd("INFO").arg("cpu").query(&mut c)?;
    let field = |name: &str| -> f64 {
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0)
    };
    Ok(field("used_cpu_sys") + field("used_cpu_user"))
}

/// Enqueues and drains the workload on `target`; returns the wall time.
async fn run(target: RedisTarget, jobs: usize, concurrency: usize) -> anyhow::Result<Duration> {
    let mut cfg = QueueConfig::on(target);
    cfg.fetch_batch = concurrency;
    let q = Queue::connect(cfg).await?;
    let start = Instant::now();
    let per_queue = jobs / QUEUES.len();
    for queue in QUEUES {
        let mut i = 0;
        while i < per_queue {
            let n = (per_queue - i).min(1000);
            let batch = (i..i + n)
                .map(|k| JobRequest {
                    queue: queue.into(),
                    ..JobRequest::new("noop", json!({ "n": k }))
                })
                .collect();
            q.enqueue_batch(batch).await?;
            i += n;
        }
    }
    let workers: Vec<_> = QUEUES
        .iter()
        .map(|queue| {
            creel_tests::run_worker!(
                RedisBackend::<Value>::new(q.clone(), queue),
                concurrency,
                |_j: Value| async { Ok::<Value, JobError>(Value::Null) }
            )
        })
        .collect();
    for queue in QUEUES {
        while q.counts(queue).await?.get(JobState::Succeeded) < per_queue as u64 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let took = start.elapsed();
    for w in workers {
        w.stop().await?;
    }
    Ok(took)
}

fn port_of(url: &str) -> anyhow::Result<u16> {
    let rest = url.rsplit(':').next().unwrap_or_default();
    Ok(rest.trim_end_matches('/').parse()?)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let jobs = a.jobs / QUEUES.len() * QUEUES.len();

    let single = RedisServer::start()?;
    let port = port_of(&single.url())?;
    let before = redis_cpu(port)?;
    let took = run(RedisTarget::Server(single.url()), jobs, a.concurrency).await?;
    let single_cpu = redis_cpu(port)? - before;
    drop(single);
    let single_us = single_cpu * 1e6 / jobs as f64;
    say(&format!(
        "single redis: {jobs} jobs in {:.2} s ({:.0} jobs/s), redis cpu {single_cpu:.2} s = {single_us:.1} µs/job",
        took.as_secs_f64(),
        jobs as f64 / took.as_secs_f64()
    ));

    let cluster = RedisCluster::start(3, 0)?;
    let primaries = cluster.primaries()?;
    let before: Vec<f64> = primaries
        .iter()
        .map(|p| redis_cpu(*p))
        .collect::<Result<_, _>>()?;
    let took = run(cluster.target(), jobs, a.concurrency).await?;
    let deltas: Vec<f64> = primaries
        .iter()
        .zip(&before)
        .map(|(p, b)| redis_cpu(*p).map(|now| now - b))
        .collect::<Result<_, _>>()?;
    let total: f64 = deltas.iter().sum();
    let cluster_us = total * 1e6 / jobs as f64;
    say(&format!(
        "3-primary cluster: {jobs} jobs in {:.2} s ({:.0} jobs/s), redis cpu {total:.2} s = {cluster_us:.1} µs/job",
        took.as_secs_f64(),
        jobs as f64 / took.as_secs_f64()
    ));
    let third = 1.0 / 3.0;
    let mut worst: f64 = 0.0;
    for (p, d) in primaries.iter().zip(&deltas) {
        let share = d / total;
        worst = worst.max((share - third).abs() / third);
        say(&format!(
            "  primary :{p}: {d:.2} s cpu, {:.1} % of the cluster's",
            share * 100.0
        ));
    }
    say(&format!(
        "RESULT cluster_cpu_per_job_ratio={:.2}",
        cluster_us / single_us
    ));
    say(&format!(
        "RESULT cluster_max_primary_share_deviation={worst:.2}"
    ));
    Ok(())
}

#[allow(clippy::print_stdout)]
fn say(line: &str) {
    println!("{line}");
}
