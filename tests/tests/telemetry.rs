//! Telemetry end to end, with real exporters: creel's API and worker (in this process, with
//! creel's own subscriber) export spans over OTLP/gRPC to a fake collector. One API request
//! with a `traceparent` enqueues a `baijiayun.vod` job against the vendor simulator that
//! delivers into S3; the collector then holds the producer span in the caller's trace, the
//! process spans linked to it, the vendor call spans with their attributes and no secret or
//! signed query, and the child delivery's spans in the parent's trace.
//!
//! One test in this file: the tracing subscriber is per process.

use std::collections::BTreeMap;
use std::time::Duration;

use creel::telemetry::Exposition;
use creel_core::config::{QuotaConfig, StorageProfile, Vendor};
use creel_core::{JobId, JobState};
use creel_sim::baijiayun::TaskOutcome;
use creel_tests::probe::wait_for_state;
use creel_tests::s3_server::{ACCESS_KEY, S3Server, SECRET_KEY};
use creel_tests::stack::Stack;
use creel_tests::vendor_sim::{self, BJY_KEY, BJY_PARTNER};
use fake_opentelemetry_collector::{ExportedSpan, FakeCollectorServer};
use serde_json::json;

const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

/// An attribute's value as text: the collector gives the protobuf value's `Debug` form,
/// `Some(AnyValue { value: Some(StringValue("x")) })` or `…IntValue(5)…`.
fn attr(s: &ExportedSpan, key: &str) -> Option<String> {
    let raw = s.attributes.get(key)?;
    let start = raw.find("Value(")? + "Value(".len();
    let inner = raw.get(start..raw.len().checked_sub(")) })".len())?)?;
    Some(
        match inner.strip_prefix('"').and_then(|i| i.strip_suffix('"')) {
            Some(text) => text.replace("\\\"", "\""),
            None => inner.to_owned(),
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_from_the_callers_request_to_the_stored_object() {
    let mut collector = FakeCollectorServer::start().await.expect("collector");
    let telemetry =
        creel_tests::traced::export_all_to(collector.endpoint(), Exposition::Prometheus);
    assert!(telemetry.exporting());

    let sim = vendor_sim::start(vendor_sim::config(600.0, None)).await;
    // No callbacks: the job asks the vendor (getStatus, getInfo), and its delivery asks for a
    // fresh URL (getUrl).
    sim.sim.drop_callbacks(1_000);
    let video = sim.sim.baijiayun_add_vod(BJY_PARTNER, TaskOutcome::Success);
    // One failed getInfo: a retried step, an error class on a vendor call.
    sim.sim.inject(creel_sim::Fault {
        vendor: "baijiayun".into(),
        endpoint: "/openapi/video/getInfo".into(),
        kind: creel_sim::FaultKind::Status { status: 500 },
        count: 1,
    });
    let s3 = S3Server::start("archive").await;
    let mut bjy = vendor_sim::account(&sim, Vendor::Baijiayun);
    // A short quota window, so the limiter's cold start (one window) is short too.
    bjy.quota = Some(QuotaConfig::new(50, 200));
    let mut stack = Stack::start_with_metrics(telemetry.metrics(), |cfg| {
        cfg.download.allow_hosts.push("127.0.0.1".into());
        cfg.accounts.insert("bjy".into(), bjy);
        cfg.storage.insert(
            "archive".into(),
            StorageProfile::S3(s3.profile("archive", None)),
        );
        cfg.telemetry.gauge_interval_secs = 1;
        cfg.worker.default_retry.base_delay = Duration::from_millis(100);
        cfg.classroom.default_poll.first_ms = 100;
        cfg.classroom.default_poll.max_ms = 500;
    })
    .await;
    stack.start_worker();

    let res = stack
        .http
        .post(format!("{}/v1/jobs", stack.api))
        .bearer_auth(&stack.token)
        .header("traceparent", format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01"))
        .json(&json!({"kind": "baijiayun.vod", "account": "bjy",
            "payload": {"video_id": video, "deliver": {"profile": "archive"}}}))
        .send()
        .await
        .expect("POST /v1/jobs");
    assert_eq!(res.status(), 201);
    let body: serde_json::Value = res.json().await.expect("json");
    let id: JobId = body["id"].as_str().expect("id").parse().expect("job id");
    let rec = wait_for_state(
        &stack.queue,
        &id,
        JobState::Succeeded,
        Duration::from_secs(60),
    )
    .await;
    // A second job whose video fails to transcode: a dead letter.
    let broken = sim.sim.baijiayun_add_vod(BJY_PARTNER, TaskOutcome::Failure);
    let dead = stack
        .queue
        .enqueue(creel_core::JobRequest {
            account: Some("bjy".into()),
            ..creel_core::JobRequest::new("baijiayun.vod", json!({"video_id": broken}))
        })
        .await
        .expect("enqueue")
        .id;
    wait_for_state(
        &stack.queue,
        &dead,
        JobState::Failed,
        Duration::from_secs(60),
    )
    .await;
    let child: JobId = rec.result.as_ref().expect("result")["stored"][0]["job_id"]
        .as_str()
        .unwrap_or_else(|| panic!("the delivery's id in {:?}", rec.result))
        .parse()
        .expect("child id");
    let exposition = metrics_after_a_gauge_read(&stack).await;
    stack.stop().await;
    telemetry.shutdown().await;
    metrics_are_named_and_bounded(&exposition, &id, &child);
    the_dashboard_uses_only_what_creel_emits(&exposition);

    let spans = collector.exported_spans(12, Duration::from_secs(10)).await;
    let by_id: BTreeMap<&str, &ExportedSpan> =
        spans.iter().map(|s| (s.span_id.as_str(), s)).collect();
    let named = |name: &str, message: &JobId| -> Vec<&ExportedSpan> {
        spans
            .iter()
            .filter(|s| {
                s.name == name
                    && attr(s, "messaging.message.id").as_deref() == Some(message.as_str())
            })
            .collect()
    };

    // The producer span: in the caller's trace, under the request's server span.
    let sends = named("send default", &id);
    assert_eq!(sends.len(), 1, "one send span for the job: {spans:#?}");
    let send = sends[0];
    assert_eq!(send.kind, "SPAN_KIND_PRODUCER");
    assert_eq!(send.trace_id, CALLER_TRACE);
    assert_eq!(attr(send, "messaging.system").unwrap_or_default(), "creel");
    assert_eq!(
        attr(send, "messaging.destination.name").unwrap_or_default(),
        "default"
    );
    let server = by_id
        .get(send.parent_span_id.as_str())
        .unwrap_or_else(|| panic!("the send span's parent was exported: {send:#?}"));
    assert_eq!(server.name, "POST /v1/jobs");
    assert_eq!(server.kind, "SPAN_KIND_SERVER");
    assert_eq!(server.parent_span_id, CALLER_SPAN);
    assert_eq!(attr(server, "http.route").unwrap_or_default(), "/v1/jobs");
    assert_eq!(
        attr(server, "http.response.status_code").unwrap_or_default(),
        "201"
    );
    // The job stores the send span's context.
    assert_eq!(
        rec.traceparent.as_deref(),
        Some(format!("00-{CALLER_TRACE}-{}-01", send.span_id).as_str())
    );

    // Each step is a consumer span linked to the send span.
    let processes = named("process default", &id);
    assert!(processes.len() >= 2, "submit, then polls: {processes:#?}");
    for p in &processes {
        assert_eq!(p.kind, "SPAN_KIND_CONSUMER");
        assert!(
            p.links
                .iter()
                .any(|l| l.span_id == send.span_id && l.trace_id == CALLER_TRACE),
            "linked to the send span: {p:#?}"
        );
        assert_eq!(
            attr(p, "creel.job.kind").unwrap_or_default(),
            "baijiayun.vod"
        );
        assert_eq!(attr(p, "creel.account").unwrap_or_default(), "bjy");
        assert!(attr(p, "creel.job.outcome").is_some(), "{p:#?}");
    }

    // Vendor calls: client spans inside the steps, with the HTTP and vendor attributes.
    let calls: Vec<&ExportedSpan> = spans
        .iter()
        .filter(|s| s.kind == "SPAN_KIND_CLIENT" && attr(s, "creel.vendor").is_some())
        .collect();
    let endpoints: Vec<String> = calls
        .iter()
        .map(|c| attr(c, "creel.vendor.endpoint").unwrap_or_default())
        .collect();
    for e in ["vod_get_status", "vod_get_info", "vod_get_url"] {
        assert!(
            endpoints.iter().any(|x| x == e),
            "a {e} call span: {endpoints:?}"
        );
    }
    for c in &calls {
        assert_eq!(c.name, "POST");
        assert_eq!(attr(c, "creel.vendor").unwrap_or_default(), "baijiayun");
        assert_eq!(attr(c, "http.request.method").unwrap_or_default(), "POST");
        assert_eq!(attr(c, "server.address").unwrap_or_default(), "127.0.0.1");
        match attr(c, "http.response.status_code").as_deref() {
            Some("200") => assert_eq!(attr(c, "creel.vendor.code").as_deref(), Some("0")),
            Some("500") => assert_eq!(attr(c, "error.type").as_deref(), Some("500")),
            other => panic!("status {other:?}: {c:#?}"),
        }
        let template = attr(c, "url.template").unwrap_or_default();
        assert!(
            template.starts_with("/") && !template.contains('?'),
            "{template}"
        );
        assert!(
            by_id.contains_key(c.parent_span_id.as_str()),
            "a call has its step: {c:#?}"
        );
    }

    // The delivery is in the parent's trace: its send span's parent is a parent step.
    let child_send = named("send default", &child);
    assert_eq!(child_send.len(), 1, "{spans:#?}");
    let parent_step = by_id
        .get(child_send[0].parent_span_id.as_str())
        .expect("the delivery's send span has an exported parent");
    assert_eq!(
        attr(parent_step, "messaging.message.id").unwrap_or_default(),
        id.as_str(),
        "enqueued by the parent's step"
    );
    assert!(!named("process default", &child).is_empty());

    // No secret and no signed query anywhere.
    for s in &spans {
        for (k, v) in &s.attributes {
            for secret in [BJY_KEY, SECRET_KEY, ACCESS_KEY, stack_token()] {
                assert!(!v.contains(secret), "{k}={v} in {}", s.name);
            }
            assert!(
                !v.contains("sign=") && !v.contains("X-Amz-Signature") && !v.contains("&t="),
                "{k}={v} in {}",
                s.name
            );
        }
    }
}

/// The API token [`Stack`] uses.
fn stack_token() -> &'static str {
    "test-token-of-thirty-two-bytes-at-least"
}

/// `/metrics` once the queue gauges have been read (their first read is at the API's start,
/// before the job; the second after `gauge_interval_secs`).
async fn metrics_after_a_gauge_read(stack: &Stack) -> String {
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let res = stack
        .http
        .get(format!("{}/metrics", stack.api))
        .send()
        .await
        .expect("GET /metrics");
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .is_ok_and(|c| c.starts_with("text/plain"))
    );
    res.text().await.expect("text")
}

/// The Prometheus text parses, holds every metric creel records with its attributes, the
/// gauges are exact for a queue whose one job (and its delivery) succeeded, and no job id
/// or URL is a label value.
fn metrics_are_named_and_bounded(text: &str, id: &JobId, child: &JobId) {
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
        .expect("Prometheus text parses");
    let names: std::collections::BTreeSet<&str> =
        scrape.samples.iter().map(|s| s.metric.as_str()).collect();
    // Every metric creel records is here, but those this run has no occasion for: a reclaimed
    // lease, a throttled call, a resumed upload, a part sent twice (telemetry_parts.rs).
    let occasional = [
        "creel_job_reclaimed",
        "creel_limiter_throttled",
        "creel_transfer_resumes",
        "creel_transfer_parts_retried",
    ];
    for family in creel::telemetry::metric_families() {
        if occasional.contains(&family.as_str()) {
            continue;
        }
        assert!(
            names.iter().any(|n| n.starts_with(&family)),
            "{family} in /metrics: {names:?}\n{text}"
        );
    }
    let value = |metric: &str, labels: &[(&str, &str)]| -> f64 {
        scrape
            .samples
            .iter()
            .filter(|s| {
                s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v))
            })
            .map(|s| match s.value {
                prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => 0.0,
            })
            .sum()
    };
    let queue = [("messaging_destination_name", "default")];
    assert_eq!(
        value(
            "creel_queue_jobs",
            &[queue[0], ("creel_job_state", "succeeded")]
        ),
        2.0,
        "the job and its delivery"
    );
    assert_eq!(
        value(
            "creel_queue_jobs",
            &[queue[0], ("creel_job_state", "ready")]
        ),
        0.0
    );
    assert_eq!(
        value(
            "creel_queue_jobs",
            &[queue[0], ("creel_job_state", "failed")]
        ),
        1.0,
        "the broken video's job"
    );
    assert_eq!(
        value(
            "creel_job_dead_lettered_total",
            &[queue[0], ("creel_job_kind", "baijiayun.vod")]
        ),
        1.0
    );
    assert_eq!(value("creel_workers_alive", &[]), 1.0, "the one worker");
    assert_eq!(
        value(
            "creel_limiter_quota_per_second",
            &[("creel_account", "bjy")]
        ),
        250.0,
        "50 calls / 200 ms"
    );
    assert!(value("creel_limiter_permits_total", &[("creel_account", "bjy")]) >= 4.0);
    assert!(
        value(
            "creel_transfer_bytes_total",
            &[("creel_storage_profile", "archive")]
        ) > 0.0,
        "the delivery moved bytes"
    );
    assert!(
        scrape
            .samples
            .iter()
            .any(|s| s.metric == "creel_events_consumer_lag"
                && s.labels.get("group") == Some("creel-webhooks")),
        "the webhook group's lag"
    );
    assert_eq!(
        value("creel_worker_slots", &[queue[0], ("state", "limit")]),
        4.0
    );
    assert_eq!(
        value("creel_worker_slots", &[queue[0], ("state", "busy")]),
        0.0
    );
    assert_eq!(
        value("messaging_client_sent_messages_total", &queue),
        3.0,
        "sent: two jobs and a delivery"
    );
    assert_eq!(
        value(
            "creel_job_outcomes_total",
            &[
                ("creel_job_kind", "baijiayun.vod"),
                ("creel_job_outcome", "succeeded")
            ]
        ),
        1.0
    );
    assert!(
        value(
            "creel_vendor_requests_total",
            &[
                ("creel_vendor", "baijiayun"),
                ("creel_vendor_endpoint", "vod_get_url"),
                ("class", "ok")
            ]
        ) >= 1.0
    );
    assert!(
        value(
            "http_server_request_duration_seconds_count",
            &[("http_route", "/v1/jobs")]
        ) >= 1.0
    );
    assert_eq!(
        value(
            "creel_job_retries_total",
            &[("creel_job_kind", "baijiayun.vod")]
        ),
        1.0,
        "the failed getInfo"
    );
    assert_eq!(
        value(
            "creel_vendor_requests_total",
            &[("creel_vendor_endpoint", "vod_get_info"), ("class", "500")]
        ),
        1.0
    );
    for s in &scrape.samples {
        for (k, v) in s.labels.iter() {
            assert!(
                !v.contains(id.as_str()) && !v.contains(child.as_str()) && !v.contains("://"),
                "{}{{{k}={v}}}",
                s.metric
            );
        }
    }
}

/// Metric names a PromQL expression selects.
struct Selected(Vec<String>);

impl promql_parser::util::ExprVisitor for Selected {
    type Error = String;

    fn pre_visit(&mut self, expr: &promql_parser::parser::Expr) -> Result<bool, String> {
        use promql_parser::parser::Expr;
        match expr {
            Expr::VectorSelector(vs) => self.0.extend(vs.name.clone()),
            Expr::MatrixSelector(ms) => self.0.extend(ms.vs.name.clone()),
            _ => {}
        }
        Ok(true)
    }
}

/// deploy/grafana/creel.json: every panel and target uses the datasource variable, has a
/// description and a unit; every PromQL expression parses; every metric it selects is one a
/// real run of creel exposed (`text`, this run's `/metrics`).
fn the_dashboard_uses_only_what_creel_emits(text: &str) {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/grafana/creel.json");
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("the dashboard file"))
            .expect("the dashboard is JSON");
    let variables = dashboard["templating"]["list"]
        .as_array()
        .expect("templating");
    assert!(
        variables
            .iter()
            .any(|v| v["name"] == "datasource" && v["type"] == "datasource"),
        "a datasource variable"
    );
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
        .expect("Prometheus text parses");
    let emitted: std::collections::BTreeSet<String> =
        scrape.samples.iter().map(|s| s.metric.clone()).collect();
    let known = |name: &str| {
        emitted.contains(name)
            || name
                .strip_suffix("_bucket")
                .is_some_and(|base| emitted.contains(base))
    };
    let uses_variable = |ds: &serde_json::Value| ds["uid"] == "${datasource}";
    let mut exprs = 0;
    for panel in dashboard["panels"].as_array().expect("panels") {
        if panel["type"] == "row" {
            continue;
        }
        let title = panel["title"].as_str().unwrap_or_default();
        assert!(uses_variable(&panel["datasource"]), "{title}: datasource");
        assert!(
            panel["description"].as_str().is_some_and(|d| !d.is_empty()),
            "{title}: description"
        );
        assert!(
            panel["fieldConfig"]["defaults"]["unit"].is_string(),
            "{title}: unit"
        );
        for target in panel["targets"].as_array().expect("targets") {
            assert!(
                uses_variable(&target["datasource"]),
                "{title}: target datasource"
            );
            let expr = target["expr"].as_str().expect("expr");
            let promql = expr
                .replace("$__rate_interval", "5m")
                .replace("$queue", ".*");
            let parsed = promql_parser::parser::parse(&promql)
                .unwrap_or_else(|e| panic!("{title}: {expr}: {e}"));
            let mut selected = Selected(Vec::new());
            promql_parser::util::walk_expr(&mut selected, &parsed).expect("walk");
            assert!(!selected.0.is_empty(), "{title}: {expr} selects no metric");
            for name in &selected.0 {
                assert!(known(name), "{title}: {name} is not emitted: {emitted:?}");
            }
            exprs += 1;
        }
    }
    assert!(exprs >= 12, "{exprs} expressions");
}
