//! creel end to end over HTTP: the API, the worker, the dir sink, the events stream, signed
//! webhooks, the stream intake, and every way a request can be refused.

use std::time::Duration;

use creel_core::{JobId, JobState};
use creel_tests::probe::{events_for, wait_for_state};
use creel_tests::stack::Stack;
use md5::{Digest, Md5};
use redis::Commands;
use serde_json::json;

fn id_of(v: &serde_json::Value) -> JobId {
    v["id"].as_str().expect("an id").parse().expect("a job id")
}

/// Enqueue over HTTP → worker → the file in the directory with the right MD5 → exactly one
/// `creel.job.succeeded` event on the stream and one signed webhook delivery.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_lands_with_its_md5_one_event_and_one_signed_webhook() {
    let mut stack = Stack::start().await;
    stack.start_worker();
    let md5 = stack.samples.md5["big.mp4"].clone();
    let mut body = stack.download("big.mp4");
    body["payload"]["expected_md5"] = json!(md5);
    body["webhook"] = json!(stack.samples.hook_url());
    let res = stack.post_job(&body).await;
    assert_eq!(res.status(), 201);
    let id = id_of(&res.json().await.expect("json"));

    let rec = wait_for_state(
        &stack.queue,
        &id,
        JobState::Succeeded,
        Duration::from_secs(20),
    )
    .await;
    let result = rec.result.expect("result");
    let path = result["location"].as_str().expect("location");
    assert!(
        path.starts_with(stack.out.path().to_str().expect("utf-8")),
        "{path}"
    );
    let bytes = std::fs::read(path).expect("the file exists");
    assert_eq!(hex::encode(Md5::digest(&bytes)), md5);
    assert_eq!(result["md5"], json!(md5));
    assert_eq!(result["bytes"], json!(3 << 20));
    assert_eq!(rec.progress.expect("progress")["bytes"], json!(3 << 20));

    let events = events_for(&stack.queue, &id).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type.as_str(), "creel.job.succeeded");

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while stack.samples.hooks().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "no webhook arrived");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let hooks = stack.samples.hooks();
    assert_eq!(hooks.len(), 1, "{hooks:?}");
    assert!(hooks[0].signature_ok);
    assert_eq!(hooks[0].body["subject"], json!(id.to_string()));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let rec = stack.queue.get(&id).await.expect("get").expect("job");
        if let Some(d) = rec.webhook_delivery {
            assert_eq!(d["status"], "delivered");
            assert_eq!(d["attempts"], 1);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "delivery not recorded"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stack.stop().await;
}

/// Each kind of bad request is refused with a problem naming the field, and nothing reaches
/// Redis.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_refused_with_the_field_and_nothing_is_enqueued() {
    let stack = Stack::start().await;
    let good = stack.download("small.mp4");
    let mut unknown_account = good.clone();
    unknown_account["account"] = json!("nobody");
    let mut unknown_profile = good.clone();
    unknown_profile["payload"]["profile"] = json!("s3-archive");
    let mut bad_url = good.clone();
    bad_url["payload"]["url"] = json!("file:///etc/passwd");
    let mut credentials = good.clone();
    credentials["payload"]["url"] = json!("http://user:pw@example.com/a.mp4");
    let mut hook = good.clone();
    hook["webhook"] = json!("http://attacker.example/collect");
    let cases = [
        (json!({"payload": {}}), "kind"),
        (json!({"kind": "teleport"}), "kind"),
        (unknown_account, "account"),
        (unknown_profile, "payload.profile"),
        (bad_url, "payload.url"),
        (credentials, "payload.url"),
        (
            json!({"kind": "download", "payload": {"profile": "local"}}),
            "payload.url",
        ),
        (hook, "webhook"),
    ];
    for (body, field) in cases {
        let res = stack.post_job(&body).await;
        assert_eq!(res.status(), 422, "{body}");
        assert_eq!(res.headers()["content-type"], "application/problem+json");
        let problem: serde_json::Value = res.json().await.expect("json");
        assert_eq!(problem["field"], json!(field), "{problem}");
        assert_eq!(problem["status"], 422);
    }
    let res = stack
        .http
        .post(format!("{}/v1/jobs", stack.api))
        .bearer_auth(&stack.token)
        .header("content-type", "application/json")
        .body(b"{not json".to_vec())
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 422);
    let mut huge = good.clone();
    huge["payload"]["key"] = json!("x".repeat(20 * 1024));
    let res = stack.post_job(&huge).await;
    assert_eq!(
        res.status(),
        413,
        "an oversized body is 413 Content Too Large"
    );
    assert_eq!(res.headers()["content-type"], "application/problem+json");

    let mut c = stack.redis.connection().expect("conn");
    let jobs: Vec<String> = c.keys("creel:q:*:job:*").expect("keys");
    assert!(jobs.is_empty(), "{jobs:?}");
    stack.stop().await;
}

/// Everything but health and the OpenAPI document needs a valid bearer token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_needs_a_token_but_health_does_not() {
    let stack = Stack::start().await;
    let url = format!("{}/v1/jobs", stack.api);
    let none = stack
        .http
        .post(&url)
        .json(&stack.download("small.mp4"))
        .send()
        .await
        .expect("post");
    assert_eq!(none.status(), 401);
    assert_eq!(none.headers()["www-authenticate"], "Bearer");
    let wrong = stack
        .http
        .get(format!("{}/v1/queues", stack.api))
        .bearer_auth("nope")
        .send()
        .await
        .expect("get");
    assert_eq!(wrong.status(), 401);
    for path in ["/livez", "/readyz"] {
        let res = stack
            .http
            .get(format!("{}{path}", stack.api))
            .send()
            .await
            .expect("health");
        assert_eq!(res.status(), 200, "{path}");
    }
    let doc: serde_json::Value = stack
        .http
        .get(format!("{}/openapi.json", stack.api))
        .send()
        .await
        .expect("doc")
        .json()
        .await
        .expect("json");
    assert_eq!(doc["openapi"], "3.1.0");
    for path in [
        "/v1/jobs",
        "/v1/jobs/{id}",
        "/v1/jobs/{id}/cancel",
        "/v1/jobs/{id}/retry",
        "/v1/queues",
        "/v1/queues/{name}/pause",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from the OpenAPI document"
        );
    }
    let mut c = stack.redis.connection().expect("conn");
    let jobs: Vec<String> = c.keys("creel:q:*:job:*").expect("keys");
    assert!(jobs.is_empty());
    stack.stop().await;
}

/// A repeated Idempotency-Key answers 200 with the first job; traceparent is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_idempotency_key_returns_the_same_job() {
    let stack = Stack::start().await;
    let send = || {
        stack
            .http
            .post(format!("{}/v1/jobs", stack.api))
            .bearer_auth(&stack.token)
            .header("Idempotency-Key", "lesson-7")
            .header(
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            )
            .json(&stack.download("small.mp4"))
            .send()
    };
    let first = send().await.expect("first");
    assert_eq!(first.status(), 201);
    let first: serde_json::Value = first.json().await.expect("json");
    let second = send().await.expect("second");
    assert_eq!(second.status(), 200);
    let second: serde_json::Value = second.json().await.expect("json");
    assert_eq!(first["id"], second["id"]);
    assert_eq!(
        first["traceparent"],
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    );
    assert_eq!(first["created_by"], "tests");
    assert_eq!(first["idempotency_key"], "lesson-7");
    let (_, queues) = stack.get_json("/v1/queues").await;
    assert_eq!(queues[0]["counts"]["ready"], 1);
    stack.stop().await;
}

/// Cancel a queued job, retry it, and watch it finish; a finished job cannot be cancelled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_and_retry_work_over_http() {
    let mut stack = Stack::start().await;
    let mut body = stack.download("small.mp4");
    body["run_at"] = json!((chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339());
    let rec: serde_json::Value = stack.post_job(&body).await.json().await.expect("json");
    let id = id_of(&rec);
    assert_eq!(rec["state"], "scheduled");
    let res = stack.cancel_job(&id).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json::<serde_json::Value>().await.expect("json")["outcome"],
        "cancelled"
    );
    let (_, rec) = stack.get_json(&format!("/v1/jobs/{id}")).await;
    assert_eq!(rec["state"], "cancelled");
    let (_, page) = stack.get_json("/v1/jobs?state=cancelled").await;
    assert_eq!(page["jobs"][0]["id"], json!(id.to_string()));

    stack.start_worker();
    let res = stack
        .http
        .post(format!("{}/v1/jobs/{id}/retry", stack.api))
        .bearer_auth(&stack.token)
        .send()
        .await
        .expect("retry");
    assert_eq!(res.status(), 200);
    wait_for_state(
        &stack.queue,
        &id,
        JobState::Succeeded,
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(stack.cancel_job(&id).await.status(), 409);
    let (status, _) = stack
        .get_json(&format!("/v1/jobs/{}", JobId::generate()))
        .await;
    assert_eq!(status, 404);
    let (status, problem) = stack.get_json("/v1/jobs/not-an-id").await;
    assert_eq!((status, problem["field"].clone()), (422, json!("id")));
    stack.stop().await;
}

/// The stream intake enqueues a good request and reports a bad one, both on `creel:events`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_intake_accepts_a_good_request_and_reports_a_bad_one() {
    let stack = Stack::start().await;
    let mut c = stack.redis.connection().expect("conn");
    let good: String = c
        .xadd(
            "creel:requests",
            "*",
            &[("request", stack.download("small.mp4").to_string())],
        )
        .expect("xadd");
    let bad: String = c
        .xadd(
            "creel:requests",
            "*",
            &[(
                "request",
                json!({"kind": "download", "payload": {"url": "gopher://x", "profile": "local"}})
                    .to_string(),
            )],
        )
        .expect("xadd");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let (accepted, rejected) = loop {
        let entries: redis::streams::StreamRangeReply =
            c.xrange_all("creel:events").expect("xrange");
        let events: Vec<serde_json::Value> = entries
            .ids
            .iter()
            .filter_map(|e| e.get::<String>("event"))
            .filter_map(|t| serde_json::from_str(&t).ok())
            .collect();
        let find = |id: &str| events.iter().find(|e| e["subject"] == id).cloned();
        if let (Some(a), Some(r)) = (find(&good), find(&bad)) {
            break (a, r);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no intake outcomes: {events:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(accepted["type"], "creel.request.accepted");
    let job: JobId = accepted["data"]["job_id"]
        .as_str()
        .expect("job id")
        .parse()
        .expect("id");
    assert_eq!(
        stack.queue.get(&job).await.expect("get").expect("job").kind,
        "download"
    );
    assert_eq!(rejected["type"], "creel.request.rejected");
    assert_eq!(rejected["data"]["field"], "payload.url");
    let mut c = stack.redis.connection().expect("conn");
    let jobs: Vec<String> = c.keys("creel:q:*:job:*").expect("keys");
    assert_eq!(jobs.len(), 1, "only the good request became a job");
    stack.stop().await;
}

/// Sources on non-public addresses are refused for good, whether named directly or reached by a
/// redirect from an allowed host; the refusal names the SSRF policy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssrf_refusals_are_permanent_failures() {
    // Only the name `localhost` is allowed; 127.0.0.1 written as an address is not.
    let mut stack =
        Stack::start_with(|cfg| cfg.download.allow_hosts.push("localhost".into())).await;
    stack.start_worker();
    let port = stack
        .samples
        .base
        .rsplit(':')
        .next()
        .expect("port")
        .to_owned();
    // Literal non-public addresses are refused at intake, naming the field.
    for url in [
        format!("http://127.0.0.1:{port}/samples/small.mp4"),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://10.0.0.7:9000/a.mp4".to_owned(),
        "http://[::1]/a.mp4".to_owned(),
        "http://100.64.0.1/a.mp4".to_owned(),
        "http://[::ffff:169.254.169.254]/".to_owned(),
    ] {
        let body = json!({"kind": "download", "payload": {"url": url, "profile": "local"}});
        let res = stack.post_job(&body).await;
        assert_eq!(res.status(), 422, "{url}");
        let problem: serde_json::Value = res.json().await.expect("json");
        assert_eq!(problem["field"], "payload.url", "{url}: {problem}");
    }
    // A name is checked when it is resolved and on every redirect: a redirect from the
    // allowed name to 127.0.0.1 fails the job for good.
    let sources = [format!("http://localhost:{port}/redirect/small.mp4")];
    let mut ids = Vec::new();
    for url in &sources {
        let body = json!({"kind": "download", "payload": {"url": url, "profile": "local"}});
        let res = stack.post_job(&body).await;
        assert_eq!(res.status(), 201, "{url}");
        ids.push(id_of(&res.json().await.expect("json")));
    }
    for (url, id) in sources.iter().zip(&ids) {
        let rec = wait_for_state(&stack.queue, id, JobState::Failed, Duration::from_secs(20)).await;
        let err = rec.last_error.unwrap_or_default();
        assert!(err.contains("SSRF policy"), "{url}: {err}");
        assert_eq!(rec.attempts, 1, "{url}: a refusal is not retried");
    }
    // The allowed name itself works.
    let body = json!({"kind": "download", "payload": {"url": format!("http://localhost:{port}/samples/small.mp4"), "profile": "local"}});
    let id = id_of(&stack.post_job(&body).await.json().await.expect("json"));
    wait_for_state(
        &stack.queue,
        &id,
        JobState::Succeeded,
        Duration::from_secs(20),
    )
    .await;
    stack.stop().await;
}

/// `GET /v1/scaling/{queue}`, what KEDA reads: ready is exact (a cancelled job still in the
/// ready list is not counted), due counts scheduled jobs whose time has come, running counts
/// leased jobs, and a job scheduled for later is not in the backlog at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scaling_backlog_counts_ready_due_and_running_exactly() {
    use creel_core::{JobError, JobRequest};
    use creel_queue::{JobContext, RedisBackend};
    use serde_json::Value;

    let stack = Stack::start().await;
    let request = |run_at: Option<chrono::DateTime<chrono::Utc>>| JobRequest {
        queue: "scale".into(),
        run_at,
        ..JobRequest::new("hold", json!({}))
    };
    let soon = chrono::Utc::now() + chrono::Duration::milliseconds(300);
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    let mut batch: Vec<JobRequest> = (0..4).map(|_| request(None)).collect();
    batch.extend([
        request(Some(soon)),
        request(Some(soon)),
        request(Some(later)),
    ]);
    let ids = stack.queue.enqueue_batch(batch).await.expect("enqueue");
    stack.queue.cancel(&ids[0].id).await.expect("cancel");
    tokio::time::sleep(Duration::from_millis(400)).await;

    let (status, body) = stack.get_json("/v1/scaling/scale").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"queue": "scale", "ready": 3, "due": 2, "running": 0, "backlog": 5})
    );

    // Steps held running (two started, the rest leased by the worker's prefetch): they stay in
    // the backlog (a busy pod is not an idle one).
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(0));
    let held = gate.clone();
    let worker = creel_tests::run_worker!(
        RedisBackend::<Value>::new(stack.queue.clone(), "scale"),
        2,
        move |_j: Value, _ctx: apalis_core::task::data::Data<JobContext>| {
            let held = held.clone();
            async move {
                let _permit = held.acquire().await;
                Ok::<Value, JobError>(Value::Null)
            }
        }
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let body = loop {
        let (_, body) = stack.get_json("/v1/scaling/scale").await;
        if body["running"].as_u64() >= Some(2) || tokio::time::Instant::now() > deadline {
            break body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(body["running"].as_u64() >= Some(2), "{body}");
    assert_eq!(body["backlog"], 5, "{body}");

    gate.add_permits(100);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let body = loop {
        let (_, body) = stack.get_json("/v1/scaling/scale").await;
        if body["backlog"] == 0 || tokio::time::Instant::now() > deadline {
            break body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        body,
        json!({"queue": "scale", "ready": 0, "due": 0, "running": 0, "backlog": 0}),
        "the job scheduled for later is not counted"
    );
    worker.stop().await.expect("worker stops");

    let (status, body) = stack.get_json("/v1/scaling/bad%20name").await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["field"], "queue", "{body}");
    stack.stop().await;
}
