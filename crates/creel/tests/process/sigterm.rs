//! SIGTERM to a real `creel worker` process in the middle of a download: the process exits 0
//! after its drain time, the job goes back to the queue at once (its attempt refunded, no partial
//! file left), and the next worker finishes it.

use crate::support;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use creel::samples::SampleServer;
use creel_core::{JobRequest, JobState};
use creel_queue::Queue;
use creel_queue::embedded::RedisServer;
use md5::{Digest, Md5};
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_download_hands_the_job_back_and_exits_zero() {
    let redis = RedisServer::start().expect("redis-server");
    let samples = SampleServer::start(&[("slow.mp4", 8 << 20)], Duration::from_millis(60), "s")
        .await
        .expect("samples");
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let config_file = dir.path().join("creel.toml");
    std::fs::write(
        &config_file,
        format!(
            "[redis]\nurl = \"{}\"\n[worker]\nlease_ms = 3000\ndrain_ms = 300\n[worker.queues.default]\nconcurrency = 2\n[download]\nallow_hosts = [\"127.0.0.1\"]\n[storage.local]\ntype = \"dir\"\npath = \"{}\"\n",
            redis.url(),
            out.display()
        ),
    )
    .expect("config");
    let config = Arc::new(creel::settings::load(Some(&config_file)).expect("load"));
    let queue = Queue::connect(creel::settings::queue_config(&config))
        .await
        .expect("queue");
    let payload = serde_json::json!({"url": samples.url("slow.mp4"), "profile": "local", "key": "slow.mp4", "expected_md5": samples.md5["slow.mp4"]});
    let id = queue
        .enqueue(JobRequest::new("download", payload))
        .await
        .expect("enqueue")
        .id;

    let mut child = Command::new(env!("CARGO_BIN_EXE_creel"))
        .args(["--config", config_file.to_str().expect("utf-8"), "worker"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start creel worker");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let rec = queue.get(&id).await.expect("get").expect("job");
        if rec.state == JobState::Running
            && rec
                .progress
                .as_ref()
                .is_some_and(|p| p["bytes"].as_u64() > Some(0))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the download never started: {rec:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let exit = support::sigterm_and_wait(&mut child, Duration::from_secs(15)).await;
    assert!(exit.success(), "creel worker exited with {exit}");

    let rec = queue.get(&id).await.expect("get").expect("job");
    assert!(
        matches!(rec.state, JobState::Scheduled | JobState::Ready),
        "handed back, not running: {rec:?}"
    );
    assert_eq!(rec.attempts, 0, "the interrupted attempt is refunded");
    assert!(
        rec.last_error
            .as_deref()
            .unwrap_or("")
            .contains("shutting down"),
        "{rec:?}"
    );
    let leftovers: Vec<_> = std::fs::read_dir(&out)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        leftovers.is_empty(),
        "no partial file may be left: {leftovers:?}"
    );

    let stop = CancellationToken::new();
    let worker = tokio::spawn(creel::worker::run(
        Arc::clone(&config),
        queue.clone(),
        stop.clone(),
    ));
    let deadline = Instant::now() + Duration::from_secs(30);
    let rec = loop {
        let rec = queue.get(&id).await.expect("get").expect("job");
        if rec.state.is_terminal() {
            break rec;
        }
        assert!(
            Instant::now() < deadline,
            "the next worker did not finish the job: {rec:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    stop.cancel();
    worker.await.expect("join").expect("worker");
    assert_eq!(rec.state, JobState::Succeeded, "{rec:?}");
    let bytes = std::fs::read(out.join("slow.mp4")).expect("file");
    assert_eq!(hex::encode(Md5::digest(&bytes)), samples.md5["slow.mp4"]);
    let events = queue.events_of_every_queue(100).await.expect("events");
    assert_eq!(
        events
            .iter()
            .filter(|e| e.event.subject == id.as_str())
            .count(),
        1
    );
}
