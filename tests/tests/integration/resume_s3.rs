//! A worker killed with -9 in the middle of a multipart upload to S3, at a random part boundary:
//! the next worker resumes the same upload with an HTTP Range request from the checkpoint,
//! never uploads a checkpointed part again, and the object is whole. Between the kill and the
//! restart, `creel storage sweep` aborts an old orphaned upload but keeps the killed job's.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use creel::samples::SampleServer;
use creel_core::{JobRequest, JobState};
use creel_queue::Queue;
use creel_queue::embedded::RedisServer;
use creel_tests::s3_server::{ACCESS_KEY, S3Server, SECRET_KEY};
use md5::{Digest, Md5};
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_upload_resumes_without_reuploading_finished_parts() {
    let Resume {
        redis: _redis,
        s3,
        samples,
        config,
        queue,
        id,
        mut child,
        dir: _dir,
    } = Resume::start(30 << 20).await;
    // Kill it once a random number (1 to 3) of the 6 parts are checkpointed.
    let kill_after =
        1 + (std::process::id() as usize + Instant::now().elapsed().subsec_nanos() as usize) % 3;
    let deadline = Instant::now() + Duration::from_secs(30);
    let checkpoint = loop {
        let rec = queue.get(&id).await.expect("get").expect("job");
        if let Some(cp) = rec.checkpoint.clone().filter(|c| {
            c["upload"]["parts"]
                .as_array()
                .is_some_and(|p| p.len() >= kill_after)
        }) {
            child.0.kill().expect("kill -9");
            let _ = child.0.wait();
            break cp;
        }
        assert!(
            rec.state != JobState::Succeeded,
            "finished before the kill; make the source slower"
        );
        assert!(
            Instant::now() < deadline,
            "no checkpoint with {kill_after} parts: {rec:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let upload_id = checkpoint["upload"]["upload_id"]
        .as_str()
        .expect("upload id")
        .to_owned();
    assert!(
        checkpoint["upload"]["parts"]
            .as_array()
            .is_some_and(|p| p.iter().all(|p| p["crc32c"].is_string())),
        "each finished part keeps its CRC32C for CompleteMultipartUpload: {checkpoint}"
    );
    let checkpointed: Vec<i64> = checkpoint["upload"]["parts"]
        .as_array()
        .expect("parts")
        .iter()
        .map(|p| p["number"].as_i64().expect("number"))
        .collect();

    sweep_keeps_the_killed_jobs_upload(&config, &queue, &s3, &upload_id).await;

    let rec = finish_in_process(&config, &queue, &id).await;
    assert_eq!(rec.state, JobState::Succeeded, "{rec:?}");
    assert_eq!(rec.lease_losses, 1);

    let stored = std::fs::read(s3.root.path().join("archive/x/long.mp4")).expect("object");
    assert_eq!(hex::encode(Md5::digest(&stored)), samples.md5["long.mp4"]);

    let mut sent: BTreeMap<i64, usize> = BTreeMap::new();
    for r in s3
        .requests()
        .iter()
        .filter(|r| r.is_upload_part() && r.target.contains(&upload_id))
    {
        let n = r
            .target
            .split("partNumber=")
            .nth(1)
            .and_then(|v| v.split('&').next())
            .and_then(|v| v.parse().ok())
            .expect("part number");
        *sent.entry(n).or_default() += 1;
    }
    for n in &checkpointed {
        assert_eq!(
            sent.get(n),
            Some(&1),
            "checkpointed part {n} was uploaded again: {sent:?}"
        );
    }
    assert_eq!(
        sent.keys().copied().collect::<Vec<_>>(),
        (1..=6).collect::<Vec<_>>(),
        "every part of the one upload"
    );
    let completes = s3
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.target.contains(&format!("uploadId={upload_id}")))
        .count();
    assert_eq!(
        completes, 1,
        "the resumed upload (not a new one) was completed"
    );
    assert_eq!(s3.open_upload_parts(), 0);
}

/// #18: kill -9 right after CreateMultipartUpload, before any part finished. The checkpoint
/// already names the upload, so nothing is orphaned: the next worker aborts it (a checkpoint
/// without finished parts is not resumed, so no part of it is sent twice) and completes a new
/// one; no upload is left open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_right_after_create_leaves_no_orphan_upload() {
    let Resume {
        redis: _redis,
        s3,
        samples,
        config,
        queue,
        id,
        mut child,
        dir: _dir,
    } = Resume::start(12 << 20).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let named = loop {
        let rec = queue.get(&id).await.expect("get").expect("job");
        if let Some(cp) = rec.checkpoint.clone() {
            child.0.kill().expect("kill -9");
            let _ = child.0.wait();
            break cp;
        }
        assert!(Instant::now() < deadline, "no checkpoint: {rec:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert_eq!(
        named["upload"]["parts"].as_array().map(Vec::len),
        Some(0),
        "killed before a part finished: {named}"
    );
    let first = named["upload"]["upload_id"]
        .as_str()
        .expect("the checkpoint names the upload")
        .to_owned();

    let rec = finish_in_process(&config, &queue, &id).await;
    assert_eq!(rec.state, JobState::Succeeded, "{rec:?}");
    let stored = std::fs::read(s3.root.path().join("archive/x/long.mp4")).expect("object");
    assert_eq!(hex::encode(Md5::digest(&stored)), samples.md5["long.mp4"]);
    let requests = s3.requests();
    let aborted = requests
        .iter()
        .any(|r| r.method == "DELETE" && r.target.contains(&format!("uploadId={first}")));
    assert!(aborted, "the named upload was aborted");
    let completed_first = requests
        .iter()
        .any(|r| r.method == "POST" && r.target.contains(&format!("uploadId={first}")));
    assert!(
        !completed_first,
        "a new upload was completed, not the named one"
    );
    assert_eq!(s3.open_upload_parts(), 0, "no upload left open");
}

/// A download of a throttled `long.mp4` of the given size into an S3 bucket (5 MiB parts, two
/// in flight), enqueued, with a `creel-worker` process running it.
struct Resume {
    redis: RedisServer,
    s3: S3Server,
    samples: SampleServer,
    config: Arc<creel_core::Config>,
    queue: Queue,
    id: creel_core::JobId,
    child: KillOnDrop,
    dir: tempfile::TempDir,
}

impl Resume {
    async fn start(size: usize) -> Self {
        let redis = RedisServer::start().expect("redis");
        let s3 = S3Server::start("archive").await;
        let samples = SampleServer::start(&[("long.mp4", size)], Duration::from_millis(20), "s")
            .await
            .expect("samples");
        let dir = tempfile::tempdir().expect("tempdir");
        let config_file = dir.path().join("creel.toml");
        std::fs::write(
            &config_file,
            format!(
                "[redis]\nurl = \"{}\"\n[worker]\nlease_ms = 1500\n[download]\nallow_hosts = [\"127.0.0.1\"]\n\
                 [storage.bucket]\ntype = \"s3\"\nbucket = \"archive\"\nregion = \"us-east-1\"\nendpoint = \"{}\"\npath_style = true\n\
                 access_key_id = \"{ACCESS_KEY}\"\nsecret_access_key = \"{SECRET_KEY}\"\npart_size_mib = 5\nparts_in_flight = 2\n",
                redis.url(),
                s3.endpoint
            ),
        )
        .expect("config");
        let config = Arc::new(creel::settings::load(Some(&config_file)).expect("config loads"));
        let queue = Queue::connect(creel::settings::queue_config(&config))
            .await
            .expect("queue");
        let payload = serde_json::json!({"url": samples.url("long.mp4"), "profile": "bucket", "key": "x/long.mp4",
            "expected_md5": samples.md5["long.mp4"]});
        let id = queue
            .enqueue(JobRequest::new("download", payload))
            .await
            .expect("enqueue")
            .id;
        let child = KillOnDrop(
            Command::new(env!("CARGO_BIN_EXE_creel-worker"))
                .arg(&config_file)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("worker process"),
        );
        Self {
            redis,
            s3,
            samples,
            config,
            queue,
            id,
            child,
            dir,
        }
    }
}

/// Runs a worker in this process until job `id` ends; its record.
async fn finish_in_process(
    config: &Arc<creel_core::Config>,
    queue: &Queue,
    id: &creel_core::JobId,
) -> creel_queue::JobRecord {
    let stop = CancellationToken::new();
    let worker = tokio::spawn(creel::worker::run(
        Arc::clone(config),
        queue.clone(),
        stop.clone(),
    ));
    let deadline = Instant::now() + Duration::from_secs(60);
    let rec = loop {
        let rec = queue.get(id).await.expect("get").expect("job");
        if rec.state.is_terminal() {
            break rec;
        }
        assert!(Instant::now() < deadline, "not finished: {rec:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    stop.cancel();
    worker.await.expect("join").expect("worker");
    rec
}

/// Kills the worker process if the test ends early.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// With the killed job's upload open (and its job still live), plants an old and a young
/// orphaned upload, ages every upload but the young one by two days, and sweeps: a dry run
/// changes nothing, then only the old orphan is aborted.
async fn sweep_keeps_the_killed_jobs_upload(
    config: &creel_core::Config,
    queue: &Queue,
    s3: &S3Server,
    owned: &str,
) {
    use creel::storage_cli::{SweepMode, Verdict, sweep};
    let creel_storage::AnySink::S3(sink) =
        creel_storage::AnySink::from_profile(&config.storage["bucket"]).await
    else {
        panic!("an S3 profile");
    };
    let mut orphans = Vec::new();
    for key in ["orphan/old.mp4", "orphan/young.mp4"] {
        let out = sink
            .client()
            .create_multipart_upload()
            .bucket("archive")
            .key(key)
            .send()
            .await
            .expect("create an orphan");
        orphans.push(out.upload_id().expect("id").to_owned());
    }
    let (old_orphan, young_orphan) = (orphans[0].clone(), orphans[1].clone());
    let two_days_ago = std::time::SystemTime::now() - Duration::from_secs(48 * 3600);
    for entry in std::fs::read_dir(s3.root.path()).expect("root").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.contains(".upload-")
            && name.ends_with(".metadata.json")
            && !name.contains(&young_orphan)
        {
            std::fs::File::options()
                .write(true)
                .open(entry.path())
                .and_then(|f| f.set_modified(two_days_ago))
                .expect("age the upload");
        }
    }
    let verdicts = |swept: Vec<creel::storage_cli::SweptLeftover>| {
        let mut v: Vec<(String, Verdict)> = swept
            .into_iter()
            .map(|s| (s.upload_id, s.verdict))
            .collect();
        v.sort();
        v
    };
    let day = Duration::from_secs(24 * 3600);
    let mut expected = vec![
        (owned.to_owned(), Verdict::OwnedByLiveJob),
        (old_orphan.clone(), Verdict::WouldRemove),
        (young_orphan.clone(), Verdict::TooYoung),
    ];
    expected.sort();
    let dry = sweep(config, queue, "bucket", day, SweepMode::DryRun)
        .await
        .expect("dry run");
    assert_eq!(verdicts(dry), expected);
    let real = sweep(config, queue, "bucket", day, SweepMode::Remove)
        .await
        .expect("sweep");
    for e in &mut expected {
        if e.1 == Verdict::WouldRemove {
            e.1 = Verdict::Removed;
        }
    }
    assert_eq!(verdicts(real), expected);
    let mut open: Vec<String> = sink
        .open_uploads()
        .await
        .expect("list")
        .into_iter()
        .map(|l| l.upload_id)
        .collect();
    open.sort();
    let mut left = vec![owned.to_owned(), young_orphan];
    left.sort();
    assert_eq!(open, left, "only the old orphan was aborted");
}
