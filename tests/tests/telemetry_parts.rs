//! `creel.transfer.parts_retried`: a download into a real S3 server that throttles one
//! UploadPart (503 SlowDown) still lands whole, the SDK having sent that part again, and the
//! metric counts the one retried part under the storage profile's name.
//!
//! One test in this file: the tracing subscriber is per process.

use std::time::Duration;

use creel::telemetry::{Exposition, Telemetry};
use creel_core::JobState;
use creel_core::config::StorageProfile;
use creel_tests::probe::wait_for_state;
use creel_tests::s3_server::S3Server;
use creel_tests::stack::Stack;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_part_is_sent_again_and_counted() {
    let telemetry = Telemetry::install(
        None,
        "test",
        Exposition::Prometheus,
        tracing_subscriber::EnvFilter::new("warn"),
    )
    .expect("telemetry");
    let s3 = S3Server::start("archive").await;
    // 5 MiB parts: 3 for the 11 MiB sample.
    let profile = s3.profile("archive", Some(5));
    let mut stack = Stack::start_with_metrics(telemetry.metrics(), |cfg| {
        cfg.download.allow_hosts.push("127.0.0.1".into());
        cfg.storage
            .insert("bucket".into(), StorageProfile::S3(profile.clone()));
    })
    .await;
    stack.start_worker();
    s3.fail_upload_parts(1);

    let id = stack
        .create_job(&json!({"kind": "download", "payload": {
            "url": stack.samples.url("huge.mp4"), "profile": "bucket", "key": "lessons/huge.mp4",
            "expected_md5": stack.samples.md5["huge.mp4"]}}))
        .await;
    let rec = wait_for_state(
        &stack.queue,
        &id,
        JobState::Succeeded,
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(rec.attempts, 1, "the SDK's retry, not the job's: {rec:?}");
    assert_eq!(
        s3.object_md5("archive/lessons/huge.mp4"),
        stack.samples.md5["huge.mp4"]
    );
    let sent = s3.requests().iter().filter(|r| r.is_upload_part()).count();
    assert_eq!(sent, 4, "3 parts, one of them twice");

    let text = telemetry.metrics().render().expect("Prometheus text");
    stack.stop().await;
    telemetry.shutdown().await;
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
        .expect("Prometheus text parses");
    let retried: Vec<_> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == "creel_transfer_parts_retried_total")
        .map(|s| {
            (
                s.labels.get("creel_storage_profile").map(str::to_owned),
                &s.value,
            )
        })
        .collect();
    assert_eq!(retried.len(), 1, "{text}");
    assert_eq!(retried[0].0.as_deref(), Some("bucket"), "{text}");
    assert!(
        matches!(retried[0].1, prometheus_parse::Value::Counter(v) if (*v - 1.0).abs() < f64::EPSILON),
        "{text}"
    );
}
