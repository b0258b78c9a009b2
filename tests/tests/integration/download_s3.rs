//! The `download` job into an S3 profile, through the API and a worker, against a real S3
//! server: the object lands with the right bytes; an MD5 mismatch is a permanent failure that
//! leaves neither an object nor an open multipart upload.

use std::time::Duration;

use creel_core::JobState;
use creel_core::config::StorageProfile;
use creel_tests::probe::wait_for_state;
use creel_tests::s3_server::S3Server;
use creel_tests::stack::Stack;
use md5::{Digest, Md5};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_into_s3_lands_whole_and_a_bad_md5_leaves_nothing() {
    // 5 MiB parts: 3 for the 11 MiB sample.
    let (s3, _, mut stack) = s3_stack().await;
    stack.start_worker();

    let good = json!({"kind": "download", "payload": {
        "url": stack.samples.url("huge.mp4"), "profile": "bucket", "key": "lessons/huge.mp4",
        "expected_md5": stack.samples.md5["huge.mp4"]}});
    let id = stack.create_job(&good).await;
    let rec = wait_for_state(
        &stack.queue,
        &id,
        JobState::Succeeded,
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(
        rec.result.expect("result")["location"],
        "s3://archive/lessons/huge.mp4"
    );
    assert_eq!(
        s3.object_md5("archive/lessons/huge.mp4"),
        stack.samples.md5["huge.mp4"]
    );

    let good_parts = s3.requests().iter().filter(|r| r.is_upload_part()).count();
    assert_eq!(good_parts, 3, "11 MiB in 5 MiB parts");

    let bad = json!({"kind": "download", "payload": {
        "url": stack.samples.url("huge.mp4"), "profile": "bucket", "key": "lessons/bad.mp4",
        "expected_md5": "00000000000000000000000000000000"}});
    let id = stack.create_job(&bad).await;
    let rec = wait_for_state(&stack.queue, &id, JobState::Failed, Duration::from_secs(30)).await;
    assert!(
        rec.last_error
            .as_deref()
            .unwrap_or("")
            .contains("MD5 mismatch"),
        "{rec:?}"
    );
    assert_eq!(rec.attempts, 1, "a mismatch is permanent");
    assert!(!s3.root.path().join("archive/lessons/bad.mp4").exists());
    assert_eq!(
        s3.open_upload_parts(),
        0,
        "the multipart upload was aborted"
    );
    let log = s3.requests();
    // 11 MiB in 5 MiB parts: the good one sent 3; the bad one 1 or 2 (the abort may cancel the
    // second while in flight; its last part is never sent: the mismatch is found first).
    let parts = log.iter().filter(|r| r.is_upload_part()).count() - good_parts;
    assert!(
        (1..=2).contains(&parts),
        "the bad download went multipart: {parts} parts"
    );
    assert!(
        log.iter()
            .any(|r| r.method == "DELETE" && r.target.contains("uploadId=")),
        "AbortMultipartUpload was sent"
    );
    stack.stop().await;
}

/// A checkpoint from an earlier run against an older version of the source: `If-Range` with
/// the old ETag makes the source send its whole new body, so the job aborts the stale upload
/// and starts over instead of stitching two versions together.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_source_starts_over_instead_of_resuming() {
    let (s3, profile, mut stack) = s3_stack().await;
    let url = stack.samples.url("huge.mp4");
    let id = stack
        .queue
        .enqueue(creel_core::JobRequest::new(
            "download",
            json!({"url": url, "profile": "bucket", "key": "v/changed.mp4"}),
        ))
        .await
        .expect("enqueue")
        .id;

    // The earlier run: part 1 of the old version uploaded, then the worker died.
    let stale_id = plant_interrupted_upload(
        &stack,
        &profile,
        &id,
        json!({"url": url, "key": "v/changed.mp4", "validator": "\"an-older-version\""}),
    )
    .await;

    stack.start_worker();
    let rec = wait_for_state(
        &stack.queue,
        &id,
        JobState::Succeeded,
        Duration::from_secs(30),
    )
    .await;
    let stored = std::fs::read(s3.root.path().join("archive/v/changed.mp4")).expect("object");
    assert_eq!(
        hex::encode(Md5::digest(&stored)),
        stack.samples.md5["huge.mp4"],
        "the new version, whole"
    );
    assert_eq!(
        rec.result.expect("result")["md5"],
        json!(stack.samples.md5["huge.mp4"])
    );
    assert!(
        s3.requests()
            .iter()
            .any(|r| r.method == "DELETE" && r.target.contains(&format!("uploadId={stale_id}"))),
        "the stale upload was aborted"
    );
    assert_eq!(s3.open_upload_parts(), 0);
    stack.stop().await;
}

/// A real S3 server with bucket `archive`, and a stack whose profile `bucket` writes there in
/// 5 MiB parts (loopback sources allowed); the worker is not started.
async fn s3_stack() -> (S3Server, creel_core::config::S3Profile, Stack) {
    let s3 = S3Server::start("archive").await;
    let profile = s3.profile("archive", Some(5));
    let stack = Stack::start_with(|cfg| {
        cfg.download.allow_hosts.push("127.0.0.1".into());
        cfg.storage
            .insert("bucket".into(), StorageProfile::S3(profile.clone()));
    })
    .await;
    (s3, profile, stack)
}

/// Plants what a worker killed mid-transfer leaves: a multipart upload of `checkpoint.key` with
/// part 1 (5 MiB) finished, and the job's checkpoint naming it (`checkpoint` holds the source
/// fields). Returns the upload id.
async fn plant_interrupted_upload(
    stack: &Stack,
    profile: &creel_core::config::S3Profile,
    id: &creel_core::JobId,
    mut checkpoint: serde_json::Value,
) -> String {
    use md5::digest::common::hazmat::SerializableState;

    let key = checkpoint["key"].as_str().expect("key").to_owned();
    let sink = creel_storage::S3Sink::new(profile).await;
    let old = vec![0xAB_u8; 5 << 20];
    let created = sink
        .client()
        .create_multipart_upload()
        .bucket(&profile.bucket)
        .key(&key)
        .send()
        .await
        .expect("create");
    let upload_id = created.upload_id().expect("id").to_owned();
    let part = sink
        .client()
        .upload_part()
        .bucket(&profile.bucket)
        .key(&key)
        .upload_id(&upload_id)
        .part_number(1)
        .body(old.clone().into())
        .send()
        .await
        .expect("part 1");
    let mut hasher = Md5::new();
    hasher.update(&old);
    checkpoint["upload"] = json!({"upload_id": upload_id, "part_size": 5 << 20,
        "parts": [[1, part.e_tag().expect("etag")]],
        "offset": 5 << 20, "md5_state": hex::encode(hasher.serialize())});
    let mut c = stack.redis.connection().expect("conn");
    let _: () = redis::cmd("HSET")
        .arg(format!("creel:q:{{default}}:job:{id}"))
        .arg("checkpoint")
        .arg(checkpoint.to_string())
        .query(&mut c)
        .expect("hset");
    upload_id
}

/// A download cancelled while it waits to resume (its checkpoint names an open multipart
/// upload, no worker holds it) has that upload aborted by a worker's cleanup consumer at once,
/// not a day later by the sweep; the job record says what was aborted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_download_waiting_to_resume_has_its_upload_aborted() {
    let (s3, profile, mut stack) = s3_stack().await;
    stack.start_worker();
    let url = stack.samples.url("huge.mp4");
    // Waiting for its next attempt, an hour away.
    let id = stack
        .queue
        .enqueue(creel_core::JobRequest {
            run_at: Some(chrono::Utc::now() + chrono::Duration::hours(1)),
            ..creel_core::JobRequest::new(
                "download",
                json!({"url": url, "profile": "bucket", "key": "v/cancelled.mp4"}),
            )
        })
        .await
        .expect("enqueue")
        .id;
    let upload_id = plant_interrupted_upload(
        &stack,
        &profile,
        &id,
        json!({"url": url, "key": "v/cancelled.mp4"}),
    )
    .await;
    assert_eq!(s3.open_upload_parts(), 1);

    let res = stack.cancel_job(&id).await;
    assert!(res.status().is_success(), "{}", res.status());
    let cleanup = creel_tests::vendor_sim::eventually(
        "the cancelled job's cleanup is recorded",
        Duration::from_secs(20),
        || async {
            let rec = stack.queue.get(&id).await.expect("get").expect("job");
            assert_eq!(rec.state, JobState::Cancelled);
            rec.cleanup
        },
    )
    .await;
    assert_eq!(cleanup["aborted_upload"]["upload_id"], upload_id.as_str());
    assert_eq!(cleanup["aborted_upload"]["key"], "v/cancelled.mp4");
    assert_eq!(s3.open_upload_parts(), 0, "the upload is aborted");
}
