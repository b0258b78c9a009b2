//! `just bench-transfer`: a generated source of 1 GiB and 4 GiB copied into a local S3 server
//! (s3s-fs, in this process) by a release `creel worker` and by `rclone copyurl`, with the same
//! part size (16 MiB) and parts in flight (4). Each runs under GNU time, which gives its CPU
//! seconds and peak RSS; wall time is from start to the object being complete. Last line:
//! `RESULT transfer_cpu_ratio_vs_rclone=<f> wall_ratio_vs_rclone=<f> peak_rss_mib=<int>`
//! (ratios of the largest size; peak RSS is creel's largest).

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
    let mut last = (0.0, 0.0, 0u64);
    for mib in &args.mib {
        let url = format!("{source}/src/{mib}");
        // creel
        let creel_time = dir.path().join(format!("creel-{mib}.time"));
        let mut child = Command::new("/usr/bin/time")
            .args(["-f", "%U %S %M", "-o"])
            .arg(&creel_time)
            .arg(&args.creel)
            .args(["--config", config.to_str().unwrap_or_default(), "worker"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let t = Instant::now();
        let payload =
            serde_json::json!({"url": url, "profile": "bucket", "key": format!("creel-{mib}.bin")});
        let id = queue
            .enqueue(JobRequest::new("download", payload))
            .await?
            .id;
        let rec = loop {
            let rec = queue
                .get(&id)
                .await?
                .ok_or_else(|| anyhow::format_err!("job vanished"))?;
            if rec.state.is_terminal() {
                break rec;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let creel_wall = t.elapsed().as_secs_f64();
        anyhow::ensure!(rec.state == JobState::Succeeded, "creel failed: {rec:?}");
        // time(1) forwards SIGTERM to the worker, which drains and exits 0
        let _ = Command::new("pkill")
            .args(["-TERM", "-P", &child.id().to_string()])
            .status();
        child.wait()?;
        let (creel_cpu, creel_rss) = parse_time(&creel_time)?;

        // rclone, same part size and concurrency
        let rclone_time = dir.path().join(format!("rclone-{mib}.time"));
        let t = Instant::now();
        let status = Command::new("/usr/bin/time")
            .args(["-f", "%U %S %M", "-o"])
            .arg(&rclone_time)
            .args([
                "rclone",
                "copyurl",
                &url,
                &format!("bench:bench/rclone-{mib}.bin"),
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
            .env("RCLONE_CONFIG_BENCH_ENDPOINT", &s3.endpoint)
            .env("RCLONE_CONFIG_BENCH_ACCESS_KEY_ID", ACCESS_KEY)
            .env("RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY", SECRET_KEY)
            .env("RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE", "true")
            .stdout(Stdio::null())
            .status()?;
        let rclone_wall = t.elapsed().as_secs_f64();
        anyhow::ensure!(status.success(), "rclone failed ({status})");
        let (rclone_cpu, rclone_rss) = parse_time(&rclone_time)?;
        let gib = *mib as f64 / 1024.0;
        say(&format!(
            "{mib} MiB: creel {creel_wall:.1} s wall, {:.2} CPU s/GiB, {} MiB peak | rclone {rclone_wall:.1} s wall, {:.2} CPU s/GiB, {} MiB peak",
            creel_cpu / gib,
            creel_rss / 1024,
            rclone_cpu / gib,
            rclone_rss / 1024
        ));
        last = (
            creel_cpu / rclone_cpu,
            creel_wall / rclone_wall,
            last.2.max(creel_rss / 1024),
        );
        for name in [
            format!("bench/creel-{mib}.bin"),
            format!("bench/rclone-{mib}.bin"),
        ] {
            let _ = std::fs::remove_file(s3.root.path().join(name));
        }
    }
    say(&format!(
        "RESULT transfer_cpu_ratio_vs_rclone={:.2} wall_ratio_vs_rclone={:.2} peak_rss_mib={}",
        last.0, last.1, last.2
    ));
    Ok(())
}

#[allow(clippy::print_stdout)]
fn say(line: &str) {
    println!("{line}");
}
