//! `just bench-download`: one `creel worker` process (the release binary) downloads a generated
//! 2 GiB source into a dir profile. Prints the worker's peak RSS (VmHWM) and its throughput, and,
//! as the anchor, the throughput of the bare source read by a plain HTTP client in this process.
//! Last line: `RESULT download_peak_rss_mib=<int> throughput_mib_s=<float>`.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use clap::Parser;
use creel_core::{JobRequest, JobState};
use creel_queue::Queue;
use creel_queue::embedded::RedisServer;
use futures::StreamExt;
use md5::{Digest, Md5};

#[derive(Parser)]
struct Args {
    /// The creel binary to measure.
    creel: String,
    /// MiB to download.
    #[arg(long, default_value_t = 2048)]
    mib: usize,
}

const BLOCK: usize = 1 << 20;

fn block() -> Bytes {
    let mut rng = fastrand_block();
    Bytes::from(
        std::iter::repeat_with(&mut rng)
            .take(BLOCK)
            .collect::<Vec<u8>>(),
    )
}

fn fastrand_block() -> impl FnMut() -> u8 {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 24) as u8
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let block = block();
    let total = args.mib * BLOCK;
    let mut md5 = Md5::new();
    for _ in 0..args.mib {
        md5.update(&block);
    }
    let expected = hex::encode(md5.finalize());

    let b = block.clone();
    let mib = args.mib;
    let app = axum::Router::new().route(
        "/big.bin",
        axum::routing::get(move || {
            let b = b.clone();
            async move {
                let body = Body::from_stream(futures::stream::iter(
                    (0..mib).map(move |_| Ok::<Bytes, std::io::Error>(b.clone())),
                ));
                (
                    [(axum::http::header::CONTENT_LENGTH, total.to_string())],
                    body,
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/big.bin", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });

    // Anchor: the same source read and dropped by a plain client in this process.
    let t = Instant::now();
    let mut body = reqwest::get(&url).await?.bytes_stream();
    let mut n = 0usize;
    while let Some(chunk) = body.next().await {
        n += chunk?.len();
    }
    anyhow::ensure!(n == total, "anchor read {n} of {total} bytes");
    let anchor = total as f64 / (1 << 20) as f64 / t.elapsed().as_secs_f64();

    let redis = RedisServer::start()?;
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("creel.toml");
    std::fs::write(
        &config,
        format!(
            "[redis]\nurl = \"{}\"\n[worker.queues.default]\nconcurrency = 1\n[download]\nallow_hosts = [\"127.0.0.1\"]\n[storage.local]\ntype = \"dir\"\npath = \"{}\"\n",
            redis.url(),
            dir.path().join("out").display()
        ),
    )?;
    let mut child = Command::new(&args.creel)
        .args(["--config", config.to_str().unwrap_or_default(), "worker"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let queue = Queue::connect(creel_queue::QueueConfig::new(redis.url())).await?;
    let t = Instant::now();
    let payload = serde_json::json!({"url": url, "profile": "local", "key": "big.bin", "expected_md5": expected});
    let id = queue
        .enqueue(JobRequest::new("download", payload))
        .await?
        .id;
    let rec = creel_tests::probe::wait_terminal(&queue, &id, Duration::from_millis(50)).await?;
    let secs = t.elapsed().as_secs_f64();
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id()))?;
    let hwm_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow::format_err!("no VmHWM in /proc status"))?;
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    anyhow::ensure!(
        rec.state == JobState::Succeeded,
        "the download did not succeed: {rec:?}"
    );
    let throughput = total as f64 / (1 << 20) as f64 / secs;
    say(&format!(
        "downloaded {} MiB in {secs:.2} s; md5 verified {expected}",
        args.mib
    ));
    say(&format!(
        "anchor (plain client, same source, bytes dropped): {anchor:.1} MiB/s; creel: {throughput:.1} MiB/s ({:.2} of anchor)",
        throughput / anchor
    ));
    say(&format!(
        "RESULT download_peak_rss_mib={} throughput_mib_s={throughput:.1}",
        hwm_kib.div_ceil(1024)
    ));
    Ok(())
}

#[allow(clippy::print_stdout)]
fn say(line: &str) {
    println!("{line}");
}
