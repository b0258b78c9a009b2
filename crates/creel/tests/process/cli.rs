//! The `creel` command as an operator uses it: config check hides secrets, enqueue validates,
//! jobs get/watch/counts report, all against a private redis-server.

use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use creel::samples::SampleServer;
use creel_queue::Queue;
use creel_queue::embedded::RedisServer;
use tokio_util::sync::CancellationToken;

fn creel(config: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_creel"))
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .expect("run creel")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_can_check_enqueue_watch_and_count() {
    let redis = RedisServer::start().expect("redis-server");
    let samples = SampleServer::start(&[("a.mp4", 512 << 10)], Duration::ZERO, "s")
        .await
        .expect("samples");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("creel.toml");
    std::fs::write(
        &config,
        format!(
            "[redis]\nurl = \"{}\"\n[[api.tokens]]\nname = \"svc\"\ntoken = \"very-secret-token-of-32-bytes-or-more\"\n[download]\nallow_hosts = [\"127.0.0.1\"]\n[storage.local]\ntype = \"dir\"\npath = \"{}\"\n",
            redis.url(),
            dir.path().join("out").display()
        ),
    )
    .expect("config");

    let check = creel(&config, &["config", "check"]);
    assert!(check.status.success(), "{}", text(&check.stderr));
    let shown = text(&check.stdout);
    assert!(
        shown.contains("***") && !shown.contains("very-secret-token-of-32-bytes-or-more"),
        "{shown}"
    );

    let bad = creel(
        &config,
        &[
            "enqueue",
            "--kind",
            "download",
            "--payload",
            r#"{"url":"ftp://x/a","profile":"local"}"#,
        ],
    );
    assert!(!bad.status.success());
    assert!(
        text(&bad.stderr).contains("payload.url"),
        "{}",
        text(&bad.stderr)
    );

    let payload = format!(r#"{{"url":"{}","profile":"local"}}"#, samples.url("a.mp4"));
    let ok = creel(
        &config,
        &[
            "--json",
            "enqueue",
            "--kind",
            "download",
            "--payload",
            &payload,
        ],
    );
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    let enqueued: serde_json::Value = serde_json::from_slice(&ok.stdout).expect("json");
    let id = enqueued["id"].as_str().expect("id").to_owned();

    let cfg = Arc::new(creel::settings::load(Some(&config)).expect("load"));
    let queue = Queue::connect(creel::settings::queue_config(&cfg))
        .await
        .expect("queue");
    let stop = CancellationToken::new();
    let worker = tokio::spawn(creel::worker::run(Arc::clone(&cfg), queue, stop.clone()));
    let config2 = config.clone();
    let id2 = id.clone();
    let watch = tokio::task::spawn_blocking(move || creel(&config2, &["jobs", "watch", &id2]))
        .await
        .expect("watch");
    assert!(
        watch.status.success(),
        "watch exits 0 for a succeeded job: {}",
        text(&watch.stdout)
    );
    assert!(text(&watch.stdout).contains("succeeded"));
    stop.cancel();
    worker.await.expect("join").expect("worker");

    let get = creel(&config, &["--json", "jobs", "get", &id]);
    let rec: serde_json::Value = serde_json::from_slice(&get.stdout).expect("json");
    assert_eq!(rec["state"], "succeeded");
    assert_eq!(rec["created_by"], "cli");
    let counts = creel(&config, &["--json", "jobs", "counts"]);
    let counts: serde_json::Value = serde_json::from_slice(&counts.stdout).expect("json");
    assert_eq!(counts[0]["counts"]["succeeded"], 1);
    let missing = creel(&config, &["jobs", "get", "01M80ZC26FKKSMB7FKWBE0W9J7"]);
    assert!(!missing.status.success());
}

/// README's first command: `creel demo` runs everything on embedded defaults and ends well.
#[test]
fn the_demo_runs_end_to_end() {
    let out = Command::new(env!("CARGO_BIN_EXE_creel"))
        .arg("demo")
        .env("CREEL_LOG", "warn")
        .output()
        .expect("run creel demo");
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.contains("(matches)"), "{stdout}");
    for kind in [
        "plaso.export",
        "baijiayun.crop",
        "baijiayun.pure_video",
        "baijiayun.vod",
        "weclassroom.replay",
    ] {
        assert!(
            stdout.contains(&format!("(matches the vendor's file) ({kind})")),
            "{kind}: {stdout}"
        );
    }
    assert!(stdout.contains("done: every job succeeded"), "{stdout}");
}

/// `creel storage sweep` on a directory profile: an old `.part` file (a crashed write) goes, a
/// fresh one stays, finished objects are never touched; `--dry-run` changes nothing; an
/// unknown profile is a clear error.
#[test]
fn storage_sweep_removes_old_partial_files_only() {
    let redis = RedisServer::start().expect("redis-server");
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    std::fs::create_dir_all(out.join("a/b")).expect("dirs");
    let old = out.join("a/b/.lesson.mp4.0000beef.part");
    let young = out.join("a/.other.mp4.0000f00d.part");
    let object = out.join("a/b/lesson.mp4");
    for f in [&old, &young, &object] {
        std::fs::write(f, b"bytes").expect("file");
    }
    std::fs::File::options()
        .write(true)
        .open(&old)
        .and_then(|f| f.set_modified(std::time::SystemTime::now() - Duration::from_secs(30 * 3600)))
        .expect("age it");
    let config = dir.path().join("creel.toml");
    std::fs::write(
        &config,
        format!(
            "[redis]\nurl = \"{}\"\n[storage.local]\ntype = \"dir\"\npath = \"{}\"\n",
            redis.url(),
            out.display()
        ),
    )
    .expect("config");

    let dry = creel(
        &config,
        &["--json", "storage", "sweep", "local", "--dry-run"],
    );
    assert!(dry.status.success(), "{}", text(&dry.stderr));
    let verdicts = |o: &Output| {
        let mut v: Vec<(String, String)> = text(&o.stdout)
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("a JSON line"))
            .map(|v| {
                (
                    v["key"].as_str().unwrap_or("").to_owned(),
                    v["verdict"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        verdicts(&dry),
        vec![
            (
                "a/.other.mp4.0000f00d.part".to_owned(),
                "too_young".to_owned()
            ),
            (
                "a/b/.lesson.mp4.0000beef.part".to_owned(),
                "would_remove".to_owned()
            ),
        ]
    );
    assert!(old.exists());

    let swept = creel(&config, &["--json", "storage", "sweep", "local"]);
    assert!(swept.status.success(), "{}", text(&swept.stderr));
    assert_eq!(verdicts(&swept)[1].1, "removed");
    assert!(!old.exists() && young.exists() && object.exists());

    let unknown = creel(&config, &["storage", "sweep", "nope"]);
    assert!(!unknown.status.success());
    assert!(
        text(&unknown.stderr).contains("storage profile \"nope\" is not configured"),
        "{}",
        text(&unknown.stderr)
    );
}
