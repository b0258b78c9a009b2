//! `creel worker` as the manifests run it (deploy/k8s: runAsNonRoot, readOnlyRootFilesystem,
//! only `/tmp` writable, no new privileges): the binary under `unshare -m` with `/` remounted
//! read-only (checked before the worker starts), only `/tmp` and the storage directory (the
//! volume a dir profile would be) writable, and `setpriv` to uid 65532 with no new
//! privileges. It completes a download, is seen running as 65532, and exits 0 on SIGTERM.

use crate::support;

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use creel::samples::SampleServer;
use creel_core::{JobRequest, JobState};
use creel_queue::embedded::RedisServer;
use creel_queue::{Queue, QueueConfig};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_root_worker_on_a_read_only_root_completes_a_job() {
    let redis = RedisServer::start().expect("redis-server");
    let samples = SampleServer::start(&[("lesson.mp4", 3 << 20)], Duration::ZERO, "k")
        .await
        .expect("samples");
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    let out = dir.path().join("bucket");
    std::fs::create_dir(&out).expect("bucket dir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let config = dir.path().join("creel.toml");
    std::fs::write(
        &config,
        format!(
            "[redis]\nurl = \"{}\"\n[download]\nallow_hosts = [\"127.0.0.1\"]\n\
             [storage.local]\ntype = \"dir\"\npath = \"{}\"\n",
            redis.url(),
            out.display()
        ),
    )
    .expect("config");
    // The storage directory and /tmp stay writable (bound before the root is remounted
    // read-only; /tmp is bound, not replaced by a tmpfs, because the checkout under test may
    // itself live under /tmp); exit 97 if the root is still writable.
    let script = "mount --bind \"$1\" \"$1\" && mount --bind /tmp /tmp \
                  && mount --bind / / && mount -o remount,bind,ro / \
                  && { ! touch /var/.creel-ro-probe 2>/dev/null \
                       || { rm -f /var/.creel-ro-probe; exit 97; }; } \
                  && exec setpriv --reuid=65532 --regid=65532 --clear-groups --no-new-privs \
                  \"$2\" --config \"$3\" worker";
    let log = dir.path().join("worker.log");
    let mut worker = Command::new("unshare")
        .args(["-m", "sh", "-c", script, "sh"])
        .arg(&out)
        .arg(env!("CARGO_BIN_EXE_creel"))
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(&log).expect("log")))
        .spawn()
        .expect("unshare");

    let queue = Queue::connect(QueueConfig::new(redis.url()))
        .await
        .expect("queue");
    let id = queue
        .enqueue(JobRequest::new(
            "download",
            json!({"url": samples.url("lesson.mp4"), "profile": "local", "key": "lessons/a.mp4",
                   "expected_md5": samples.md5["lesson.mp4"]}),
        ))
        .await
        .expect("enqueue")
        .id;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let rec = queue.get(&id).await.expect("get").expect("record");
        if rec.state == JobState::Succeeded {
            break;
        }
        if let Some(status) = worker.try_wait().expect("try_wait") {
            panic!(
                "the worker ended ({status}): {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        assert!(Instant::now() < deadline, "the job did not finish: {rec:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        out.join("lessons/a.mp4").exists(),
        "stored in the writable volume"
    );

    // It ran as 65532.
    let pid = worker.id();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let uid = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .expect("Uid line");
    assert!(
        uid.split_whitespace().skip(1).all(|u| u == "65532"),
        "{uid}"
    );
    let exit = support::sigterm_and_wait(&mut worker, Duration::from_secs(30)).await;
    assert!(
        exit.success(),
        "{exit:?}: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}
