//! Security, the SSRF corpus: URL forms that reach, or might reach, a non-public address.
//! Literal addresses in any spelling (decimal, hex, octal, short, percent-encoded, full-width,
//! IPv6 forms that carry an IPv4 address) and other schemes are refused at intake with a 422
//! naming `payload.url`; names that resolve to loopback, and redirects from an allowed host to
//! a non-public one, are accepted and then fail for good at run time naming the SSRF policy.
//! (Environment proxies are ignored: `crates/creel/tests/security_secrets.rs` runs the worker
//! with `HTTP_PROXY` set and counts the proxy's connections.)
#![allow(clippy::print_stdout)] // the SECURITY figures line is what the README reports

use std::time::Duration;

use creel_core::{JobId, JobState};
use creel_tests::probe::wait_for_state;
use creel_tests::stack::Stack;
use serde_json::json;

/// Forms refused at intake: every one is, or stands for, a non-public address, or is not an
/// http(s) URL without credentials.
const AT_INTAKE: &[&str] = &[
    "http://127.0.0.1/a.mp4",
    "http://127.1/a.mp4",
    "http://2130706433/a.mp4",
    "http://0x7f000001/a.mp4",
    "http://0x7f.0.0.1/a.mp4",
    "http://0177.0.0.1/a.mp4",
    "http://017700000001/a.mp4",
    "http://127.0.0.1./a.mp4",
    "http://%31%32%37.0.0.1/a.mp4",
    "http://\u{ff11}\u{ff12}\u{ff17}.\u{ff10}.\u{ff10}.\u{ff11}/a.mp4",
    "https://127.0.0.1:443/a.mp4",
    "http://0.0.0.0/a.mp4",
    "http://0/a.mp4",
    "http://10.0.0.1/a.mp4",
    "http://172.16.0.1/a.mp4",
    "http://192.168.0.1/a.mp4",
    "http://169.254.169.254/latest/meta-data/",
    "http://100.64.0.1/a.mp4",
    "http://224.0.0.1/a.mp4",
    "http://255.255.255.255/a.mp4",
    "http://198.18.0.1/a.mp4",
    "http://192.0.0.1/a.mp4",
    "http://[::1]/a.mp4",
    "http://[::]/a.mp4",
    "http://[fe80::1]/a.mp4",
    "http://[fc00::1]/a.mp4",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://[::ffff:127.0.0.1]/a.mp4",
    "http://[::ffff:7f00:1]/a.mp4",
    "http://[::ffff:169.254.169.254]/",
    "http://[::ffff:a00:1]/a.mp4",
    "http://[::127.0.0.1]/a.mp4",
    "http://[::ffff:0:7f00:1]/a.mp4",
    "http://[64:ff9b::7f00:1]/a.mp4",
    "http://[64:ff9b::a9fe:a9fe]/a.mp4",
    "http://[64:ff9b:1::a00:1]/a.mp4",
    "http://[2002:7f00:1::1]/a.mp4",
    "http://[2002:a9fe:a9fe::]/a.mp4",
    "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/a.mp4",
    "http://user:pass@example.com/a.mp4",
    "http://user@example.com/a.mp4",
    "ftp://example.com/a.mp4",
    "file:///etc/passwd",
    "gopher://127.0.0.1:6379/_INFO",
    "data:text/plain,hello",
    "javascript:alert(1)",
    "http://[fe80::1%25eth0]/a.mp4",
];

fn id_of(v: &serde_json::Value) -> JobId {
    v["id"].as_str().expect("an id").parse().expect("a job id")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ssrf_corpus_is_refused() {
    // Nothing allow-listed: the sample server on 127.0.0.1 is reachable only by name.
    let mut stack = Stack::start_with(|_| {}).await;
    stack.start_worker();
    let port = stack
        .samples
        .base
        .rsplit(':')
        .next()
        .expect("port")
        .to_owned();
    let mut tried = 0;
    let mut refused = 0;
    for url in AT_INTAKE {
        let res = stack
            .post_job(&json!({"kind": "download", "payload": {"url": url, "profile": "local"}}))
            .await;
        tried += 1;
        let status = res.status().as_u16();
        let problem: serde_json::Value = res.json().await.unwrap_or_default();
        if status == 422 && problem["field"] == "payload.url" {
            refused += 1;
        } else {
            eprintln!("LEAK: {url} was taken at intake: {status} {problem}");
        }
    }
    // Names that resolve to loopback pass intake (the name is not an address) and fail at the
    // connect-time check.
    let at_run_time = [
        format!("http://localhost:{port}/samples/small.mp4"),
        format!("http://LOCALHOST:{port}/samples/small.mp4"),
        format!("http://localhost.:{port}/samples/small.mp4"),
    ];
    let mut ids = Vec::new();
    for url in &at_run_time {
        let res = stack
            .post_job(&json!({"kind": "download", "payload": {"url": url, "profile": "local"}}))
            .await;
        assert_eq!(res.status(), 201, "{url}");
        ids.push(id_of(&res.json().await.expect("json")));
    }
    for (url, id) in at_run_time.iter().zip(&ids) {
        let rec = wait_for_state(&stack.queue, id, JobState::Failed, Duration::from_secs(20)).await;
        tried += 1;
        let err = rec.last_error.unwrap_or_default();
        if err.contains("SSRF policy") && rec.attempts == 1 {
            refused += 1;
        } else {
            eprintln!("LEAK: {url}: {err}");
        }
    }
    stack.stop().await;

    // An allowed name that redirects to a non-public address: refused on the redirect.
    let mut stack =
        Stack::start_with(|cfg| cfg.download.allow_hosts.push("localhost".into())).await;
    stack.start_worker();
    let url = format!(
        "http://localhost:{port2}/redirect/small.mp4",
        port2 = stack.samples.base.rsplit(':').next().expect("port")
    );
    let res = stack
        .post_job(&json!({"kind": "download", "payload": {"url": url, "profile": "local"}}))
        .await;
    assert_eq!(res.status(), 201);
    let id = id_of(&res.json().await.expect("json"));
    let rec = wait_for_state(&stack.queue, &id, JobState::Failed, Duration::from_secs(20)).await;
    tried += 1;
    if rec.last_error.unwrap_or_default().contains("SSRF policy") {
        refused += 1;
    }
    stack.stop().await;
    println!(
        "SECURITY ssrf tried={tried} refused={refused} leaked={}",
        tried - refused
    );
    assert!(tried >= 45, "the corpus has {tried} forms");
    assert_eq!(refused, tried);
}
