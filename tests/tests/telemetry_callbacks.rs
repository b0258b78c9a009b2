//! The callback that wakes a step is a link of the step's span: a `baijiayun.vod` job against
//! the simulator, whose signed transcode callback reaches creel's API; the collector then
//! holds the callback's SERVER span, and a `process` span of the job links to it.
//!
//! One test in this file: the tracing subscriber is per process.

use std::time::Duration;

use creel::telemetry::Exposition;
use creel_core::classroom::PollPolicy;
use creel_core::config::Vendor;
use creel_core::{JobId, JobState};
use creel_sim::baijiayun::TaskOutcome;
use creel_tests::probe::wait_for_state;
use creel_tests::stack::Stack;
use creel_tests::vendor_sim::{self, BJY_PARTNER};
use fake_opentelemetry_collector::{ExportedSpan, FakeCollectorServer};
use serde_json::json;

fn attr(s: &ExportedSpan, key: &str) -> String {
    s.attributes.get(key).cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_woken_by_a_callback_links_to_the_callbacks_span() {
    let mut collector = FakeCollectorServer::start().await.expect("collector");
    let telemetry = creel_tests::traced::export_all_to(collector.endpoint(), Exposition::Nothing);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let api = format!("http://{}", listener.local_addr().expect("addr"));
    // The simulator at 600x: a transcode of minutes takes well under a second here.
    let sim = vendor_sim::start(vendor_sim::config(600.0, None)).await;
    let bjy = vendor_sim::account(&sim, Vendor::Baijiayun);
    vendor_sim::baijiayun(&bjy)
        .set_transcode_callback_url(&format!("{api}/callbacks/baijiayun/bjy"))
        .await
        .expect("set the transcode callback URL");
    let mut stack = Stack::start_on(listener, |cfg| {
        cfg.accounts.insert("bjy".into(), bjy);
        // Polls far apart: the callback, not a poll, is what finds the video ready.
        cfg.classroom.default_poll = PollPolicy {
            first_ms: 20_000,
            max_ms: 20_000,
            ..PollPolicy::default()
        };
        cfg.classroom.callback_max_age_secs = 30 * 24 * 3600;
    })
    .await;
    stack.start_worker();
    let video = sim.sim.baijiayun_add_vod(BJY_PARTNER, TaskOutcome::Success);
    let res = stack
        .post_job(&json!({"kind": "baijiayun.vod", "account": "bjy",
                          "payload": {"video_id": video}}))
        .await;
    assert_eq!(res.status(), 201);
    let id: JobId = res.json::<serde_json::Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("job id");
    wait_for_state(
        &stack.queue,
        &id,
        JobState::Succeeded,
        Duration::from_secs(15),
    )
    .await;
    stack.stop().await;
    telemetry.shutdown().await;

    let spans = collector.exported_spans(4, Duration::from_secs(10)).await;
    let callbacks: Vec<&ExportedSpan> = spans
        .iter()
        .filter(|s| {
            s.kind == "SPAN_KIND_SERVER" && attr(s, "http.route").contains("/callbacks/baijiayun/")
        })
        .collect();
    assert!(
        !callbacks.is_empty(),
        "the callback's server span: {spans:#?}"
    );
    let steps: Vec<&ExportedSpan> = spans
        .iter()
        .filter(|s| {
            s.name == "process default" && attr(s, "messaging.message.id").contains(id.as_str())
        })
        .collect();
    assert!(!steps.is_empty(), "the job's process spans");
    assert!(
        steps.iter().any(|step| step.links.iter().any(|l| callbacks
            .iter()
            .any(|c| c.span_id == l.span_id && c.trace_id == l.trace_id))),
        "a step links to the callback that woke it: steps {steps:#?} callbacks {callbacks:#?}"
    );
}
