//! A `creel worker` process's Kubernetes probes on `worker.health_listen`: `/readyz` answers
//! 200 once it is registered, 503 while Redis is down and 200 again after; `/livez` stays 200
//! through the outage (a Redis outage must not restart every pod); `/metrics` is served there
//! too when `telemetry.metrics_listen` names the same address; SIGTERM ends it with 0.

use crate::support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use creel_queue::embedded::RedisServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_follow_redis_and_liveness_does_not() {
    let mut redis = RedisServer::start().expect("redis-server");
    let dir = tempfile::tempdir().expect("tempdir");
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").to_string()
    };
    let config = dir.path().join("creel.toml");
    std::fs::write(
        &config,
        format!(
            "[redis]\nurl = \"{}\"\nresponse_timeout_ms = 300\n\
             [worker]\nlease_ms = 900\nhealth_listen = \"{addr}\"\n\
             [telemetry]\nmetrics_listen = \"{addr}\"\n",
            redis.url()
        ),
    )
    .expect("config");
    let mut worker = Command::new(env!("CARGO_BIN_EXE_creel"))
        .arg("--config")
        .arg(&config)
        .arg("worker")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("creel worker");
    let http = reqwest::Client::new();
    let status = |path: &str| {
        let (http, url) = (http.clone(), format!("http://{addr}{path}"));
        async move {
            http.get(url)
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        }
    };
    let until = |path: &'static str, want: u16| {
        let status = &status;
        async move {
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let got = status(path).await;
                if got == want {
                    return;
                }
                assert!(Instant::now() < deadline, "{path}: {got}, not {want}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };

    until("/readyz", 200).await;
    assert_eq!(status("/livez").await, 200);
    let metrics = http
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .expect("GET /metrics");
    assert_eq!(metrics.status(), 200, "/metrics beside the probes");

    redis.stop().expect("stopping redis");
    until("/readyz", 503).await;
    for _ in 0..10 {
        assert_eq!(status("/livez").await, 200, "alive while Redis is down");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    redis.restart().expect("restarting redis");
    until("/readyz", 200).await;

    let exit = support::sigterm_and_wait(&mut worker, Duration::from_secs(30)).await;
    assert!(exit.success(), "{exit:?}");
}
