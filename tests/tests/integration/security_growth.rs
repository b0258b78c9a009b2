//! Security, unbounded growth: finished jobs are deleted after their retention with their
//! idempotency keys, idempotency keys carry a TTL, the request stream is trimmed, and requests
//! that would sit forever or fan out without bound (a `run_at` decades away, a queue no worker
//! serves, a crop of thousands of segments or of 1-second ones) are refused at intake.
#![allow(clippy::print_stdout)] // the SECURITY figures line is what the README reports

use std::time::Duration;

use creel_core::config::{Vendor, VendorAccount};
use creel_core::{JobId, JobState, Secret};
use creel_tests::probe::wait_for_state;
use creel_tests::stack::Stack;
use redis::Commands;
use serde_json::json;

fn id_of(v: &serde_json::Value) -> JobId {
    v["id"].as_str().expect("an id").parse().expect("a job id")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_deletes_what_is_done_and_intake_refuses_what_never_ends() {
    let mut stack = Stack::start_with(|cfg| {
        cfg.download.allow_hosts.push("127.0.0.1".into());
        let mut bjy = VendorAccount::new(Vendor::Baijiayun, "1", Secret::new("k"));
        bjy.base_url = Some("https://example.at.baijiayun.com".into());
        cfg.accounts.insert("bjy".into(), bjy);
        cfg.retention.succeeded_secs = 1;
        cfg.retention.requests_max_len = 10;
    })
    .await;
    stack.start_worker();
    let mut body = stack.download("small.mp4");
    body["idempotency_key"] = json!("keep-me-for-a-while");
    let res = stack.post_job(&body).await;
    assert_eq!(res.status(), 201);
    let id = id_of(&res.json().await.expect("json"));
    wait_for_state(
        &stack.queue,
        &id,
        JobState::Succeeded,
        Duration::from_secs(20),
    )
    .await;
    let mut c = stack.redis.connection().expect("conn");
    let idem: Vec<String> = c.keys("creel:idem:*").expect("keys");
    assert_eq!(idem.len(), 1);
    let ttl: i64 = c.ttl(&idem[0]).expect("ttl");
    assert!(ttl > 0, "an idempotency key expires (ttl {ttl})");
    // Producers flood the request stream; it is trimmed.
    for i in 0..500 {
        let _: String = c
            .xadd(
                "creel:requests",
                "*",
                &[("request", format!("{{\"n\":{i}}}"))],
            )
            .expect("xadd");
    }
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let deleted = creel::retention::apply(&stack.queue, &stack.config.retention)
        .await
        .expect("retention");
    assert_eq!(deleted, 1);
    assert!(
        stack.queue.get(&id).await.expect("get").is_none(),
        "the job is gone"
    );
    let idem: Vec<String> = c.keys("creel:idem:*").expect("keys");
    assert!(idem.is_empty(), "its idempotency key went with it");
    let len: u64 = c.xlen("creel:requests").expect("xlen");
    assert!(
        len < 500,
        "the request stream was trimmed to about 10 (now {len})"
    );

    let mut tried = 0;
    let mut refused = 0;
    let far = (chrono::Utc::now() + chrono::Duration::days(365 * 70)).to_rfc3339();
    for (request, field) in [
        (
            json!({"kind": "download", "run_at": far, "payload": body["payload"]}),
            "run_at",
        ),
        (
            json!({"kind": "download", "queue": "nobody-serves-this", "payload": body["payload"]}),
            "queue",
        ),
        (
            json!({"kind": "baijiayun.crop", "account": "bjy",
                "payload": {"room_id": 1, "length_per_segment": 1}}),
            "payload.length_per_segment",
        ),
        (
            json!({"kind": "baijiayun.crop", "account": "bjy",
                "payload": {"room_id": 1, "segments": (0..150).map(|i| json!({"start_time": i, "end_time": i + 1, "name": format!("s{i}")})).collect::<Vec<_>>()}}),
            "payload.segments",
        ),
    ] {
        let res = stack.post_job(&request).await;
        tried += 1;
        let status = res.status().as_u16();
        let problem: serde_json::Value = res.json().await.unwrap_or_default();
        if status == 422 && problem["field"] == field {
            refused += 1;
        } else {
            eprintln!("LEAK: {field}: {status} {problem}");
        }
    }
    println!(
        "SECURITY growth tried={tried} refused={refused} leaked={}",
        tried - refused
    );
    assert_eq!(refused, tried);
    stack.stop().await;
}
