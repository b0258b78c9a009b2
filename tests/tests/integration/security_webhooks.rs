//! Security, webhooks: the allow-list compares parsed scheme, host, port and path (no string
//! prefix tricks), deliveries carry Standard Webhooks signatures the receiver verifies, and a
//! configuration that allows webhooks without a signing key does not load.
#![allow(clippy::print_stdout)] // the SECURITY figures line is what the README reports

use std::time::Duration;

use creel_core::{JobId, JobState, Secret};
use creel_tests::probe::wait_for_state;
use creel_tests::stack::Stack;
use serde_json::json;

fn id_of(v: &serde_json::Value) -> JobId {
    v["id"].as_str().expect("an id").parse().expect("a job id")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_allow_list_is_parsed_and_deliveries_are_signed() {
    let mut stack = Stack::start_with(|cfg| {
        cfg.download.allow_hosts.push("127.0.0.1".into());
        cfg.events
            .webhook
            .allow
            .push("https://hooks.example.com/creel/".into());
    })
    .await;
    let sample_hooks = format!("{}/hooks/", stack.samples.base);
    let refused = [
        "https://hooks.example.com.evil.test/creel/x".to_owned(),
        "https://hooks.example.com@evil.test/creel/x".to_owned(),
        "https://evil.test/?u=https://hooks.example.com/creel/".to_owned(),
        "http://hooks.example.com/creel/x".to_owned(),
        "https://hooks.example.com:8443/creel/x".to_owned(),
        "https://hooks.example.com/creelx".to_owned(),
        "https://hooks.example.com/other/creel/".to_owned(),
        "https://user:pw@hooks.example.com/creel/x".to_owned(),
        "ftp://hooks.example.com/creel/x".to_owned(),
        "not a url".to_owned(),
        format!("{}/samples/x", stack.samples.base),
        format!("{sample_hooks}%2e%2e/samples/x"),
    ];
    let mut tried = 0;
    let mut held = 0;
    for hook in &refused {
        let mut body = stack.download("small.mp4");
        body["webhook"] = json!(hook);
        let res = stack.post_job(&body).await;
        tried += 1;
        if res.status() == 422 {
            held += 1;
        } else {
            eprintln!("LEAK: webhook {hook} accepted: {}", res.status());
        }
    }
    for allowed in [
        "https://hooks.example.com/creel/",
        "https://hooks.example.com/creel/a/b?x=1",
        "https://HOOKS.example.com:443/creel/x",
    ] {
        let mut body = stack.download("small.mp4");
        body["webhook"] = json!(allowed);
        body["run_at"] = json!((chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339());
        assert_eq!(stack.post_job(&body).await.status(), 201, "{allowed}");
    }
    println!(
        "SECURITY webhooks tried={tried} refused={held} leaked={}",
        tried - held
    );
    assert_eq!(held, tried);

    // A delivery carries webhook-id, webhook-timestamp and a v1 signature the receiver checks
    // (and, with the legacy key configured, X-Creel-Signature as well).
    stack.start_worker();
    let mut body = stack.download("small.mp4");
    body["webhook"] = json!(stack.samples.hook_url());
    let id = id_of(&stack.post_job(&body).await.json().await.expect("json"));
    wait_for_state(
        &stack.queue,
        &id,
        JobState::Succeeded,
        Duration::from_secs(20),
    )
    .await;
    let hook =
        creel_tests::vendor_sim::eventually("the webhook", Duration::from_secs(10), || async {
            stack
                .samples
                .hooks()
                .into_iter()
                .find(|h| h.body["data"]["job_id"] == id.to_string())
        })
        .await;
    assert!(hook.signature_ok, "the receiver verified the signatures");
    let header = |n: &str| {
        hook.headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    assert_eq!(
        header("webhook-id"),
        hook.body["id"].as_str().unwrap_or("-")
    );
    assert!(header("webhook-timestamp").parse::<i64>().is_ok());
    assert!(header("webhook-signature").starts_with("v1,"));
    assert!(header("x-creel-signature").starts_with("sha256="));
    stack.stop().await;
}

#[test]
fn webhooks_without_a_signing_key_do_not_load() {
    let mut cfg = creel_core::Config::default();
    cfg.events
        .webhook
        .allow
        .push("https://hooks.example.com/".into());
    let err = cfg.validate().expect_err("no key");
    assert_eq!(err.field(), "events.webhook.secrets", "{err}");
    cfg.events.webhook.secrets.push(Secret::new("short"));
    let err = cfg.validate().expect_err("a short key");
    assert_eq!(err.field(), "events.webhook.secrets[0]", "{err}");
    cfg.events.webhook.secrets = vec![
        Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        Secret::new("an-older-key-still-accepted"),
    ];
    cfg.validate().expect("two keys for rotation");
    cfg.events.webhook.allow.push("hooks.example.com".into());
    let err = cfg.validate().expect_err("not a URL");
    assert_eq!(err.field(), "events.webhook.allow[1]", "{err}");
}
