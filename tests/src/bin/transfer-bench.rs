//! `just bench-transfer`: a generated source of 1 GiB and 4 GiB copied into a local S3 server
//! (s3s-fs, in this process) by a release `creel worker` and by `rclone copyurl`, with the same
//! part size (16 MiB) and parts in flight (4), taking turns for `--rounds` rounds per size. Each
//! runs under GNU time, which gives its CPU seconds and peak RSS; wall time is from start to the
//! object being complete. Each size's line gives the medians of its rounds. Last line:
//! `RESULT transfer_cpu_ratio_vs_rclone=<f> wall_ratio_vs_rclone=<f> peak_rss_mib=<int>`
//! (the worse of the sizes' median ratios; peak RSS is creel's largest of any round).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use clap::Parser;
use creel_core::{JobRequest, JobState};
use creel_queue::Queue;
use creel_queue::embedded::RedisServer;
use creel_tests::s3_server::{ACCESS_KEY, S3Server, SECRET_KEY};

#[derive(Parser)]
struct Args {
    /// The creel binary to measure.
    creel: String,
    /// Sizes in MiB.
    #[arg(long, value_delimiter = ',', default_values_t = [1024usize, 4096])]
    mib: Vec<usize>,
    /// Rounds per size (each size's figures are the medians).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
}

/// One copy's figures: wall seconds, CPU seconds, peak RSS in KiB.
#[derive(Clone, Copy)]
struct Run {
    wall: f64,
    cpu: f64,
    rss: u64,
}

/// The median of the figure `f` over `runs`.
fn median(runs: &[Run], f: impl Fn(&Run) -> f64) -> f64 {
    let mut v: Vec<f64> = runs.iter().map(f).collect();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len().is_multiple_of(2) {
        (v[mid - 1] + v[mid]) / 2.0
    } else {
        v[mid]
    }
}

const BLOCK: usize = 1 << 20;

/// CPU seconds (user + system) and peak RSS (KiB) from GNU time's `-f "%U %S %M"` line.
fn parse_time(path: &std::path::Path) -> anyhow::Result<(f64, u64)> {
    let text = std::fs::read_to_string(path)?;
    let line = text
        .lines()
        .last()
        .ok_or_else(|| anyhow::format_err!("no time output"))?;
    let v: Vec<&str> = line.split_whitespace().collect();
    anyhow::ensure!(v.len() == 3, "unexpected time output {line:?}");
    Ok((v[0].parse::<f64>()? + v[1].parse::<f64>()?, v[2].parse()?))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let block = {
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        Bytes::from(
            (0..BLOCK)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (x >> 24) as u8
                })
                .collect::<Vec<u8>>(),
        )
    };
    let b = block.clone();
    let app = axum::Router::new().route(
        "/src/{mib}",
        axum::routing::get(
            move |axum::extract::Path(mib): axum::extract::Path<usize>| {
                let b = b.clone();
                async move {
                    let body = Body::from_stream(futures::stream::iter(
                        (0..mib).map(move |_| Ok::<Bytes, std::io::Error>(b.clone())),
                    ));
                    (
                        [(
                            axum::http::header::CONTENT_LENGTH,
                            (mib * BLOCK).to_string(),
                        )],
                        body,
                    )
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let source = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    let s3 = S3Server::start("bench").await;
    let redis = RedisServer::start()?;
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("creel.toml");
    std::fs::write(
        &config,
        format!(
            "[redis]\nurl = \"{}\"\n[worker.queues.default]\nconcurrency = 1\n[download]\nallow_hosts = [\"127.0.0.1\"]\n\
             [storage.bucket]\ntype = \"s3\"\nbucket = \"bench\"\nregion = \"us-east-1\"\nendpoint = \"{}\"\npath_style = true\n\
             access_key_id = \"{ACCESS_KEY}\"\nsecret_access_key = \"{SECRET_KEY}\"\npart_size_mib = 16\nparts_in_flight = 4\n",
            redis.url(),
            s3.endpoint
        ),
    )?;
    let queue = Queue::connect(creel_queue::QueueConfig::new(redis.url())).await?;
    let mut worst = (0.0f64, 0.0f64, 0u64);
    for mib in &args.mib {
        let url = format!("{source}/src/{mib}");
        let (mut creel, mut rclone) = (Vec::new(), Vec::new());
        for round in 0..args.rounds.max(1) {
            let name = format!("{mib}-{round}");
            creel.push(run_creel(&args.creel, &config, &queue, &url, &name, dir.path()).await?);
            rclone.push(run_rclone(&s3.endpoint, &url, &name, dir.path())?);
            for object in [format!("creel-{name}.bin"), format!("rclone-{name}.bin")] {
                let _ = std::fs::remove_file(s3.root.path().join("bench").join(object));
            }
        }
        let gib = *mib as f64 / 1024.0;
        let (cw, cc) = (median(&creel, |r| r.wall), median(&creel, |r| r.cpu));
        let (rw, rc) = (median(&rclone, |r| r.wall), median(&rclone, |r| r.cpu));
        let crss = creel.iter().map(|r| r.rss).max().unwrap_or_default() / 1024;
        let rrss = rclone.iter().map(|r| r.rss).max().unwrap_or_default() / 1024;
        say(&format!(
            "{mib} MiB, medians of {} rounds: creel {cw:.1} s wall, {:.2} CPU s/GiB, {crss} MiB peak | rclone {rw:.1} s wall, {:.2} CPU s/GiB, {rrss} MiB peak | CPU ratio {:.3}, wall ratio {:.3}",
            creel.len(),
            cc / gib,
            rc / gib,
            cc / rc,
            cw / rw
        ));
        worst = (
            worst.0.max(cc / rc),
            worst.1.max(cw / rw),
            worst.2.max(crss),
        );
    }
    say(&format!(
        "RESULT transfer_cpu_ratio_vs_rclone={:.2} wall_ratio_vs_rclone={:.2} peak_rss_mib={}",
        worst.0, worst.1, worst.2
    ));
    Ok(())
}

/// One copy by a release `creel worker` under GNU time: the job is enqueued once the worker
/// is up, and the wall time runs from then to the job's success.
async fn run_creel(
    creel: &str,
    config: &std::path::Path,
    queue: &Queue,
    url: &str,
    name: &str,
    dir: &std::path::Path,
) -> anyhow::Result<Run> {
    let time_file = dir.join(format!("creel-{name}.time"));
    let mut child = Command::new("/usr/bin/time")
        .args(["-f", "%U %S %M", "-o"])
        .arg(&time_file)
        .arg(creel)
        .args(["--config", config.to_str().unwrap_or_default(), "worker"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let t = Instant::now();
    let payload =
        serde_json::json!({"url": url, "profile": "bucket", "key": format!("creel-{name}.bin")});
    let id = queue
        .enqueue(JobRequest::new("download", payload))
        .await?
        .id;
    let rec = creel_tests::probe::wait_terminal(queue, &id, Duration::from_millis(20)).await?;
    let wall = t.elapsed().as_secs_f64();
    anyhow::ensure!(rec.state == JobState::Succeeded, "creel failed: {rec:?}");
    // time(1) forwards SIGTERM to the worker, which drains and exits 0
    let _ = Command::new("pkill")
        .args(["-TERM", "-P", &child.id().to_string()])
        .status();
    child.wait()?;
    let (cpu, rss) = parse_time(&time_file)?;
    Ok(Run { wall, cpu, rss })
}

/// One copy by `rclone copyurl` under GNU time, with creel's part size and parts in flight.
fn run_rclone(endpoint: &str, url: &str, name: &str, dir: &std::path::Path) -> anyhow::Result<Run> {
    let time_file = dir.join(format!("rclone-{name}.time"));
    let t = Instant::now();
    let status = Command::new("/usr/bin/time")
        .args(["-f", "%U %S %M", "-o"])
        .arg(&time_file)
        .args([
            "rclone",
            "copyurl",
            url,
            &format!("bench:bench/rclone-{name}.bin"),
        ])
        .args([
            "--s3-chunk-size",
            "16M",
            "--s3-upload-concurrency",
            "4",
            "--retries",
            "1",
        ])
        // a CA bundle for AWS in the environment breaks rclone's plain-http S3 client
        .env_remove("AWS_CA_BUNDLE")
        .env("RCLONE_CONFIG_BENCH_TYPE", "s3")
        .env("RCLONE_CONFIG_BENCH_PROVIDER", "Other")
        .env("RCLONE_CONFIG_BENCH_ENDPOINT", endpoint)
        .env("RCLONE_CONFIG_BENCH_ACCESS_KEY_ID", ACCESS_KEY)
        .env("RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE", "true")
        .stdout(Stdio::null())
        .status()?;
    let wall = t.elapsed().as_secs_f64();
    anyhow::ensure!(status.success(), "rclone failed ({status})");
    let (cpu, rss) = parse_time(&time_file)?;
    Ok(Run { wall, cpu, rss })
}

#[allow(clippy::print_stdout)]
fn say(line: &str) {
    println!("{line}");
}
