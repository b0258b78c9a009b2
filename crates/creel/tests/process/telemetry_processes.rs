//! Telemetry of the real processes, configured only by the standard variables: `creel enqueue`
//! and `creel worker` with `OTEL_EXPORTER_OTLP_ENDPOINT` export to a fake OTLP collector; the
//! worker's spans reach it although it only flushes them on SIGTERM (after its drain), the
//! job's steps link to the span that enqueued it, and `CREEL_LOG_FORMAT=json` gives one JSON
//! object per line, with `trace_id`/`span_id` inside a traced span.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use creel::samples::SampleServer;
use creel_core::{JobId, JobState};
use creel_queue::Queue;
use creel_queue::embedded::RedisServer;
use fake_opentelemetry_collector::{ExportedSpan, FakeCollectorServer};

/// An attribute's text (the collector gives the protobuf value's `Debug` form).
fn attr(s: &ExportedSpan, key: &str) -> Option<String> {
    let raw = s.attributes.get(key)?;
    let start = raw.find("Value(")? + "Value(".len();
    let inner = raw.get(start..raw.len().checked_sub(")) })".len())?)?;
    Some(inner.trim_matches('"').to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enqueue_and_worker_processes_export_traces_and_json_logs() {
    let mut collector = FakeCollectorServer::start().await.expect("collector");
    let redis = RedisServer::start().expect("redis-server");
    let samples = SampleServer::start(&[("a.mp4", 64 << 10)], Duration::ZERO, "k")
        .await
        .expect("samples");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("creel.toml");
    std::fs::write(
        &config,
        format!(
            "[redis]\nurl = \"{}\"\n[download]\nallow_hosts = [\"127.0.0.1\"]\n\
             [storage.local]\ntype = \"dir\"\npath = \"{}\"\n",
            redis.url(),
            dir.path().join("out").display()
        ),
    )
    .expect("config");
    let creel = |args: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_creel"));
        c.arg("--config")
            .arg(&config)
            .args(args)
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint())
            .env("OTEL_TRACES_SAMPLER", "always_on")
            .env("CREEL_LOG_FORMAT", "json")
            .env("CREEL_LOG", "info");
        c
    };
    let err_path = dir.path().join("worker.err");
    let mut worker = creel(&["worker"])
        .stdout(Stdio::null())
        .stderr(Stdio::from(
            std::fs::File::create(&err_path).expect("err file"),
        ))
        .spawn()
        .expect("creel worker");
    let payload = format!(
        "{{\"url\": \"{}\", \"profile\": \"local\", \"key\": \"a.mp4\"}}",
        samples.url("a.mp4")
    );
    let out = creel(&[
        "--json",
        "enqueue",
        "--kind",
        "download",
        "--payload",
        &payload,
    ])
    .output()
    .expect("creel enqueue");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let enqueued: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let id: JobId = enqueued["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("job id");

    let queue = Queue::connect(creel_queue::QueueConfig::new(redis.url()))
        .await
        .expect("queue");
    let deadline = Instant::now() + Duration::from_secs(30);
    let rec = loop {
        let rec = queue.get(&id).await.expect("get").expect("job");
        if rec.state.is_terminal() {
            break rec;
        }
        assert!(Instant::now() < deadline, "not finished: {rec:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(rec.state, JobState::Succeeded, "{rec:?}");
    let term = Command::new("kill")
        .args(["-TERM", &worker.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(term.success());
    let status = worker.wait().expect("worker exits");
    assert!(
        status.success(),
        "the worker exits 0 on SIGTERM: {status:?}"
    );

    let spans = collector.exported_spans(2, Duration::from_secs(10)).await;
    let of_job = |name: &str| -> Vec<&ExportedSpan> {
        spans
            .iter()
            .filter(|s| {
                s.name == name && attr(s, "messaging.message.id").as_deref() == Some(id.as_str())
            })
            .collect()
    };
    let send = of_job("send default");
    assert_eq!(
        send.len(),
        1,
        "creel enqueue exported its send span: {spans:#?}"
    );
    let process = of_job("process default");
    assert_eq!(
        process.len(),
        1,
        "the worker flushed its step's span on SIGTERM: {spans:#?}"
    );
    assert!(
        process[0]
            .links
            .iter()
            .any(|l| l.span_id == send[0].span_id),
        "{process:#?}"
    );
    assert_eq!(
        rec.traceparent.as_deref(),
        Some(format!("00-{}-{}-01", send[0].trace_id, send[0].span_id).as_str())
    );

    let stderr = std::fs::read_to_string(&err_path).expect("worker stderr");
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(
        lines
            .iter()
            .all(|l| l["level"].is_string() && l["timestamp"].is_string())
    );
    let step = lines
        .iter()
        .find(|l| l["message"] == "step done")
        .unwrap_or_else(|| panic!("a step done line: {stderr}"));
    assert_eq!(step["trace_id"], process[0].trace_id.as_str(), "{step}");
    assert_eq!(step["span_id"], process[0].span_id.as_str(), "{step}");
    assert!(
        lines
            .iter()
            .any(|l| l["message"] == "worker started" && l.get("trace_id").is_none()),
        "a line outside any span has no trace id: {stderr}"
    );
}
