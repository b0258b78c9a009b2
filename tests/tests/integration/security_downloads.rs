//! Security, downloads that never end: a source larger than `download.max_bytes` (announced or
//! not), one over a job's own lower `max_bytes`, and one too slow to finish each fail for good
//! naming the limit, and leave nothing stored. Driven through the real router and worker
//! against the sample server's `/unsized` and `/drip` sources.
#![allow(clippy::print_stdout)] // the SECURITY figures line is what the README reports

use std::time::{Duration, Instant};

use creel_core::{JobId, JobState};
use creel_tests::probe::wait_for_state;
use creel_tests::stack::Stack;
use serde_json::json;

fn id_of(v: &serde_json::Value) -> JobId {
    v["id"].as_str().expect("an id").parse().expect("a job id")
}

fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_stalled_sources_fail_naming_the_limit() {
    let mut stack = Stack::start_with(|cfg| {
        cfg.download.allow_hosts.push("127.0.0.1".into());
        cfg.download.max_bytes = 2 << 20;
        cfg.download.min_bytes_per_sec = 64 * 1024;
        cfg.download.throughput_window_secs = 1;
    })
    .await;
    stack.start_worker();
    let base = stack.samples.base.clone();
    let cases = [
        // 3 MiB without Content-Length: stopped once past 2 MiB.
        (
            json!({"url": format!("{base}/unsized/big.mp4"), "profile": "local"}),
            "max_bytes",
        ),
        // 3 MiB announced: refused before anything is stored.
        (
            json!({"url": format!("{base}/samples/big.mp4"), "profile": "local"}),
            "max_bytes",
        ),
        // The job's own lower limit: 1 MiB announced, 512 KiB allowed.
        (
            json!({"url": format!("{base}/samples/small.mp4"), "profile": "local", "max_bytes": 524288}),
            "max_bytes",
        ),
        // One byte every 200 ms: below 64 KiB/s over a 1 s window.
        (
            json!({"url": format!("{base}/drip/small.mp4"), "profile": "local"}),
            "min_bytes_per_sec",
        ),
    ];
    let started = Instant::now();
    let mut ids = Vec::new();
    for (payload, _) in &cases {
        let res = stack
            .post_job(&json!({"kind": "download", "payload": payload}))
            .await;
        assert_eq!(res.status(), 201, "{payload}");
        ids.push(id_of(&res.json().await.expect("json")));
    }
    for ((payload, limit), id) in cases.iter().zip(&ids) {
        let rec = wait_for_state(&stack.queue, id, JobState::Failed, Duration::from_secs(30)).await;
        let err = rec.last_error.unwrap_or_default();
        assert!(err.contains(limit), "{payload}: {err}");
        assert_eq!(rec.attempts, 1, "{payload}: a limit is not retried");
    }
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the drip was cut off in seconds, not minutes: {:?}",
        started.elapsed()
    );
    assert!(
        files_under(stack.out.path()).is_empty(),
        "nothing is stored: {:?}",
        files_under(stack.out.path())
    );
    // A job may not raise the limit.
    let res = stack
        .post_job(&json!({"kind": "download", "payload": {"url": format!("{base}/samples/small.mp4"), "profile": "local", "max_bytes": 3u64 << 20}}))
        .await;
    assert_eq!(res.status(), 422);
    let problem: serde_json::Value = res.json().await.expect("json");
    assert_eq!(problem["field"], "payload.max_bytes");
    println!(
        "SECURITY downloads tried={} refused={} leaked=0",
        cases.len() + 1,
        cases.len() + 1
    );
    stack.stop().await;
}
