//! Security, tenancy: one principal cannot see, cancel, retry or collide with another's jobs,
//! cannot pre-claim the keys creel makes for itself, and needs the scope of what it does.
//! Driven through the real router and worker with three principals: A and B (default scopes)
//! and an admin.
#![allow(clippy::print_stdout)] // the SECURITY figures line is what the README reports

use std::time::Duration;

use creel_core::config::{ApiToken, Scope};
use creel_core::{IdempotencyScope, JobId, JobRequest, JobState, Secret};
use creel_tests::probe::wait_for_state;
use creel_tests::stack::Stack;
use serde_json::{Value, json};

const A: &str = "tenant-a-token-0123456789abcdef0123456789";
const B: &str = "tenant-b-token-0123456789abcdef0123456789";
const READER: &str = "reader-token-0123456789abcdef0123456789ab";

async fn stack() -> Stack {
    Stack::start_with(|cfg| {
        cfg.download.allow_hosts.push("127.0.0.1".into());
        for (name, token, scopes) in [
            (
                "a",
                A,
                vec![Scope::JobsWrite, Scope::JobsRead, Scope::JobsCancel],
            ),
            (
                "b",
                B,
                vec![Scope::JobsWrite, Scope::JobsRead, Scope::JobsCancel],
            ),
            ("reader", READER, vec![Scope::JobsRead]),
        ] {
            cfg.api.tokens.push(ApiToken {
                name: name.into(),
                token: Secret::new(token),
                scopes,
            });
        }
    })
    .await
}

async fn call(
    stack: &Stack,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<&Value>,
    headers: &[(&str, &str)],
) -> (u16, Value) {
    let mut req = stack
        .http
        .request(method, format!("{}{path}", stack.api))
        .bearer_auth(token);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(b) = body {
        req = req.json(b);
    }
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

fn id_of(v: &Value) -> JobId {
    v["id"].as_str().expect("an id").parse().expect("a job id")
}

/// Counts what the suite tried and what was refused, for the README's security table.
#[derive(Default)]
struct Tally {
    tried: u32,
    refused: u32,
    leaked: u32,
}

impl Tally {
    /// One attempt that `held` (was refused or kept apart as it should be).
    fn held(&mut self, what: &str, held: bool) {
        self.tried += 1;
        if held {
            self.refused += 1;
        } else {
            self.leaked += 1;
            eprintln!("LEAK: {what}");
        }
    }

    fn refused_with(&mut self, what: &str, got: u16, want: u16) {
        self.held(&format!("{what}: got {got}, want {want}"), got == want);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_principal_cannot_touch_another_principals_jobs() {
    let mut stack = stack().await;
    let mut tally = Tally::default();
    let get = reqwest::Method::GET;
    let post = reqwest::Method::POST;
    // A enqueues a job that waits (run_at in the future) and one that fails (bad source).
    let mut waiting = stack.download("small.mp4");
    waiting["run_at"] = json!((chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339());
    let (s, a_job) = call(
        &stack,
        post.clone(),
        "/v1/jobs",
        A,
        Some(&waiting),
        &[("Idempotency-Key", "order-1")],
    )
    .await;
    assert_eq!(s, 201, "{a_job}");
    assert_eq!(a_job["created_by"], "a");
    let a_id = id_of(&a_job);

    // B reads, cancels and retries A's job: 404 each, exactly like a job that does not exist.
    let (s, body) = call(
        &stack,
        get.clone(),
        &format!("/v1/jobs/{a_id}"),
        B,
        None,
        &[],
    )
    .await;
    tally.refused_with("B reads A's job", s, 404);
    let (_, missing) = call(
        &stack,
        get.clone(),
        "/v1/jobs/01M80ZC26FKKSMB7FKWBE0W9J7",
        B,
        None,
        &[],
    )
    .await;
    assert_eq!(
        body["title"], missing["title"],
        "a foreign job looks like a missing one"
    );
    let (s, _) = call(
        &stack,
        post.clone(),
        &format!("/v1/jobs/{a_id}/cancel"),
        B,
        None,
        &[],
    )
    .await;
    tally.refused_with("B cancels A's job", s, 404);
    let (s, _) = call(
        &stack,
        post.clone(),
        &format!("/v1/jobs/{a_id}/retry"),
        B,
        None,
        &[],
    )
    .await;
    tally.refused_with("B retries A's job", s, 404);
    // B's listing does not show A's job; the admin's does.
    let (s, page) = call(
        &stack,
        get.clone(),
        "/v1/jobs?state=scheduled",
        B,
        None,
        &[],
    )
    .await;
    assert_eq!(s, 200);
    tally.held(
        "B lists A's job",
        page["jobs"].as_array().is_some_and(Vec::is_empty),
    );
    let (_, page) = call(
        &stack,
        get.clone(),
        "/v1/jobs?state=scheduled",
        &stack.token,
        None,
        &[],
    )
    .await;
    assert_eq!(
        page["jobs"].as_array().map(Vec::len),
        Some(1),
        "the admin sees it"
    );

    // B reusing A's Idempotency-Key gets a job of its own, not A's.
    let (s, b_job) = call(
        &stack,
        post.clone(),
        "/v1/jobs",
        B,
        Some(&waiting),
        &[("Idempotency-Key", "order-1")],
    )
    .await;
    tally.held("B reuses A's key", s == 201 && id_of(&b_job) != a_id);
    assert_eq!(b_job["created_by"], "b");
    // A repeating its own key still gets its own job back.
    let (s, again) = call(
        &stack,
        post.clone(),
        "/v1/jobs",
        A,
        Some(&waiting),
        &[("Idempotency-Key", "order-1")],
    )
    .await;
    assert_eq!((s, id_of(&again)), (200, a_id.clone()));

    // A caller cannot choose the owner: created_by in the body is overwritten.
    let mut spoof = waiting.clone();
    spoof["created_by"] = json!("a");
    let (s, spoofed) = call(&stack, post.clone(), "/v1/jobs", B, Some(&spoof), &[]).await;
    assert_eq!(s, 201);
    tally.held("B claims to be A", spoofed["created_by"] == "b");

    // Scopes: B cannot pause or list queues; a read-only token cannot enqueue or cancel.
    let (s, _) = call(
        &stack,
        post.clone(),
        "/v1/queues/default/pause",
        B,
        None,
        &[],
    )
    .await;
    tally.refused_with("B pauses a queue", s, 403);
    let (s, _) = call(&stack, get.clone(), "/v1/queues", B, None, &[]).await;
    tally.refused_with("B lists queues", s, 403);
    let (s, _) = call(
        &stack,
        post.clone(),
        "/v1/jobs",
        READER,
        Some(&waiting),
        &[],
    )
    .await;
    tally.refused_with("a reader enqueues", s, 403);
    let (s, _) = call(
        &stack,
        post.clone(),
        &format!("/v1/jobs/{}/cancel", id_of(&b_job)),
        READER,
        None,
        &[],
    )
    .await;
    tally.refused_with("a reader cancels", s, 403);
    // A's job is untouched by all of that.
    let rec = stack.queue.get(&a_id).await.expect("get").expect("A's job");
    assert_eq!(rec.state, JobState::Scheduled);
    assert!(!rec.cancel_requested);
    let paused: bool = {
        use redis::Commands;
        let mut c = stack.redis.connection().expect("conn");
        c.exists("creel:q:{default}:paused").expect("exists")
    };
    assert!(!paused, "the queue was not paused");

    // The owner and the admin can act.
    let (s, _) = call(
        &stack,
        post.clone(),
        &format!("/v1/jobs/{a_id}/cancel"),
        A,
        None,
        &[],
    )
    .await;
    assert_eq!(s, 200);
    stack.start_worker();
    wait_for_state(
        &stack.queue,
        &a_id,
        JobState::Cancelled,
        Duration::from_secs(10),
    )
    .await;

    println!(
        "SECURITY tenancy tried={} refused={} leaked={}",
        tally.tried, tally.refused, tally.leaked
    );
    assert_eq!(tally.leaked, 0);
    stack.stop().await;
}

/// The keys creel makes for itself (a classroom job's deliveries, stream entries) live where no
/// caller's key can reach: B pre-claiming `<parent>:deliver:1` does not become the delivery.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_cannot_pre_claim_a_key_creel_makes_for_itself() {
    let stack = stack().await;
    let parent = "01M80ZC26FKKSMB7FKWBE0W9J7";
    let key = format!("{parent}:deliver:1");
    let (s, planted) = call(
        &stack,
        reqwest::Method::POST,
        "/v1/jobs",
        B,
        Some(&stack.download("small.mp4")),
        &[("Idempotency-Key", key.as_str())],
    )
    .await;
    assert_eq!(s, 201);
    // creel's own delivery under the same key is a new job, owned by the parent's owner.
    let delivery = JobRequest {
        idempotency_key: Some(key.clone()),
        idempotency_scope: IdempotencyScope::Internal,
        created_by: Some("a".into()),
        ..JobRequest::new("download", stack.download("big.mp4")["payload"].clone())
    };
    let enqueued = stack
        .queue
        .enqueue(delivery.clone())
        .await
        .expect("enqueue");
    assert!(enqueued.created, "B's key did not become creel's");
    assert_ne!(enqueued.id, id_of(&planted));
    // And creel's own key dedupes as before.
    let again = stack.queue.enqueue(delivery).await.expect("enqueue");
    assert_eq!((again.id, again.created), (enqueued.id, false));
    stack.stop().await;
}

/// Tokens are checked at config load: short, empty, duplicated or nameless ones are refused.
#[test]
fn weak_tokens_are_refused_at_config_load() {
    let token = |name: &str, t: &str| ApiToken {
        name: name.into(),
        token: Secret::new(t),
        scopes: vec![Scope::JobsRead],
    };
    for (tokens, field) in [
        (vec![token("svc", "")], "api.tokens[0].token"),
        (vec![token("svc", "short-token")], "api.tokens[0].token"),
        (vec![token("svc", &"x".repeat(31))], "api.tokens[0].token"),
        (vec![token("Bad Name", A)], "api.tokens[0].name"),
        (vec![token("svc", A), token("svc", B)], "api.tokens[1].name"),
        (
            vec![token("svc", A), token("ops", A)],
            "api.tokens[1].token",
        ),
    ] {
        let mut cfg = creel_core::Config::default();
        cfg.api.tokens = tokens;
        let err = cfg.validate().expect_err(field);
        assert_eq!(err.field(), field, "{err}");
        let err = err.to_string();
        assert!(
            !err.contains(A) && !err.contains(B),
            "the token is not echoed: {err}"
        );
    }
    let mut cfg = creel_core::Config::default();
    cfg.api.tokens = vec![token("svc", A)];
    cfg.validate().expect("a 32-byte token is fine");
}
