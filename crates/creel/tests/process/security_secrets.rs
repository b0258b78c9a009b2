//! Security, secrets in output: a run of the real `creel api` and `creel worker` processes with
//! known secret values (a Redis password, an API token, a webhook key, presigned query values
//! in source URLs) and logs at TRACE, then every output channel is searched for them: both
//! processes' stdout and stderr, `config check`, a connection error, the job records through
//! the API and the CLI, the events stream and the webhook deliveries. None may hold one.
#![allow(clippy::print_stdout)] // the SECURITY figures line is what the README reports

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use creel::samples::SampleServer;
use creel_queue::embedded::RedisServer;

const REDIS_PASS: &str = "redis-pass-7c1e9a4b";
const API_TOKEN: &str = "api-token-5d2f8e3a9b1c4d7e6f0a2b3c";
const HOOK_KEY: &str = "hook-key-e4b9c2a7d1f03b6e";
const QUERY_SECRETS: [&str; 5] = [
    "AMZSIG0f3a9c",
    "TOKEN7b2e1d",
    "SIGN4c8f2a",
    "T9d3e7b",
    "OKSIG5a1c9e",
];

fn creel_cmd(config: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_creel"));
    c.arg("--config").arg(config);
    c
}

fn spawn(config: &std::path::Path, what: &str, dir: &std::path::Path, proxy: &str) -> Child {
    let out = std::fs::File::create(dir.join(format!("{what}.out"))).expect("out file");
    let err = std::fs::File::create(dir.join(format!("{what}.err"))).expect("err file");
    creel_cmd(config)
        .arg(what)
        .env("CREEL_LOG", "trace")
        .env("HTTP_PROXY", proxy)
        .env("HTTPS_PROXY", proxy)
        .env("ALL_PROXY", proxy)
        .env("http_proxy", proxy)
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .spawn()
        .expect("spawn creel")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_any_output() {
    let redis = RedisServer::start().expect("redis-server");
    {
        let mut c = redis.connection().expect("conn");
        redis::cmd("CONFIG")
            .arg("SET")
            .arg("requirepass")
            .arg(REDIS_PASS)
            .query::<()>(&mut c)
            .expect("requirepass");
    }
    let redis_url = redis
        .url()
        .replace("redis://", &format!("redis://:{REDIS_PASS}@"));
    let samples = SampleServer::start(&[("a.mp4", 256 << 10)], Duration::ZERO, HOOK_KEY)
        .await
        .expect("samples");
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let config = dir.path().join("creel.toml");
    std::fs::write(
        &config,
        format!(
            r#"[redis]
url = "{redis_url}"
[api]
listen = "127.0.0.1:{port}"
[[api.tokens]]
name = "svc"
token = "{API_TOKEN}"
[download]
allow_hosts = ["127.0.0.1"]
[storage.local]
type = "dir"
path = "{out}"
[retry.download]
max_attempts = 1
[events.webhook]
allow = ["{hooks}/hooks/"]
secrets = ["{HOOK_KEY}"]
base_delay_ms = 100
"#,
            out = dir.path().join("out").display(),
            hooks = samples.base,
        ),
    )
    .expect("config");
    let mut outputs: Vec<(String, String)> = Vec::new();

    let check = creel_cmd(&config)
        .args(["config", "check"])
        .output()
        .expect("config check");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    outputs.push((
        "config check".into(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        ),
    ));
    // A connection error names the Redis URL, with the password masked.
    let closed = format!("redis://:{REDIS_PASS}@127.0.0.1:{}/", free_port());
    let failed = creel_cmd(&config)
        .env("CREEL_REDIS__URL", &closed)
        .args(["jobs", "counts"])
        .output()
        .expect("jobs counts");
    assert!(!failed.status.success());
    let failed_text = String::from_utf8_lossy(&failed.stderr).into_owned();
    assert!(failed_text.contains("redis://:***@"), "{failed_text}");
    outputs.push(("connection error".into(), failed_text));

    // A proxy in the environment that counts its connections: downloads and webhooks must not
    // use it (through it, the SSRF policy would not see where a request goes).
    let proxy = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("proxy");
    let proxy_url = format!("http://{}", proxy.local_addr().expect("addr"));
    let proxied = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&proxied);
    tokio::spawn(async move {
        while let Ok((conn, _)) = proxy.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(conn);
        }
    });
    let mut api = spawn(&config, "api", dir.path(), &proxy_url);
    let mut worker = spawn(&config, "worker", dir.path(), &proxy_url);
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let bad_source = format!(
        "http://127.0.0.1:1/v.mp4?X-Amz-Signature={}&token={}&sign={}&t={}",
        QUERY_SECRETS[0], QUERY_SECRETS[1], QUERY_SECRETS[2], QUERY_SECRETS[3]
    );
    let good_source = format!("{}?sign={}", samples.url("a.mp4"), QUERY_SECRETS[4]);
    let mut ids = Vec::new();
    let started = Instant::now();
    for url in [&bad_source, &good_source] {
        let body = serde_json::json!({"kind": "download", "payload": {"url": url, "profile": "local"},
            "webhook": samples.hook_url()});
        let res = loop {
            match http
                .post(format!("{base}/v1/jobs"))
                .bearer_auth(API_TOKEN)
                .json(&body)
                .send()
                .await
            {
                Ok(r) => break r,
                Err(_) if started.elapsed() < Duration::from_secs(20) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("the API did not come up: {e}"),
            }
        };
        assert_eq!(res.status(), 201);
        let text = res.text().await.expect("body");
        outputs.push(("POST /v1/jobs".into(), text.clone()));
        let v: serde_json::Value = serde_json::from_str(&text).expect("json");
        ids.push(v["id"].as_str().expect("id").to_owned());
    }
    // Both jobs end (one failed, one succeeded) and both webhooks arrive.
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the jobs did not end"
        );
        let mut ended = 0;
        for id in &ids {
            let rec: serde_json::Value = http
                .get(format!("{base}/v1/jobs/{id}"))
                .bearer_auth(API_TOKEN)
                .send()
                .await
                .expect("get")
                .json()
                .await
                .expect("json");
            if matches!(rec["state"].as_str(), Some("failed" | "succeeded")) {
                ended += 1;
            }
        }
        if ended == ids.len() && samples.hooks().len() >= ids.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for id in &ids {
        let rec = http
            .get(format!("{base}/v1/jobs/{id}"))
            .bearer_auth(API_TOKEN)
            .send()
            .await
            .expect("get")
            .text()
            .await
            .expect("text");
        outputs.push((format!("GET /v1/jobs/{id}"), rec));
        let cli = creel_cmd(&config)
            .args(["jobs", "get", id])
            .output()
            .expect("jobs get");
        outputs.push((
            format!("creel jobs get {id}"),
            format!(
                "{}{}",
                String::from_utf8_lossy(&cli.stdout),
                String::from_utf8_lossy(&cli.stderr)
            ),
        ));
    }
    let failed_rec = &outputs[outputs.len() - 4].1;
    assert!(
        failed_rec.contains("X-Amz-Signature=***"),
        "the error keeps the parameter names: {failed_rec}"
    );
    let list = http
        .get(format!("{base}/v1/jobs?state=failed"))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .expect("list")
        .text()
        .await
        .expect("text");
    outputs.push(("GET /v1/jobs?state=failed".into(), list));
    let events: Vec<(String, Vec<(String, String)>)> = {
        let client = redis::Client::open(redis_url.as_str()).expect("client");
        let mut c = client.get_connection().expect("conn");
        redis::cmd("XRANGE")
            .arg("creel:q:{default}:events")
            .arg("-")
            .arg("+")
            .query(&mut c)
            .expect("xrange")
    };
    assert!(events.len() >= 2, "both terminal events are there");
    outputs.push(("events stream".into(), format!("{events:?}")));
    for hook in samples.hooks() {
        assert!(hook.signature_ok);
        outputs.push((
            "webhook".into(),
            format!("{:?} {}", hook.headers, hook.body),
        ));
    }
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(api.id().to_string())
        .status();
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(worker.id().to_string())
        .status();
    let _ = api.wait();
    let _ = worker.wait();
    for f in ["api.out", "api.err", "worker.out", "worker.err"] {
        let text = std::fs::read_to_string(dir.path().join(f)).unwrap_or_default();
        outputs.push((f.into(), text));
    }
    let worker_log = &outputs[outputs.len() - 1].1;
    assert!(worker_log.contains("TRACE"), "the worker logged at TRACE");
    let through_proxy = proxied.load(std::sync::atomic::Ordering::SeqCst);
    println!(
        "SECURITY ssrf-proxy tried=2 refused={} leaked={through_proxy}",
        2 - through_proxy.min(2)
    );
    assert_eq!(
        through_proxy, 0,
        "nothing went through the environment's proxy"
    );

    let secrets: Vec<&str> = [REDIS_PASS, API_TOKEN, HOOK_KEY]
        .into_iter()
        .chain(QUERY_SECRETS)
        .collect();
    let mut leaks = Vec::new();
    for (channel, text) in &outputs {
        for s in &secrets {
            if text.contains(s) {
                let at = text.find(s).unwrap_or(0);
                let context = &text[at.saturating_sub(120)..(at + 40).min(text.len())];
                leaks.push(format!("{channel} holds {s}: …{context}…"));
            }
        }
    }
    let bytes: usize = outputs.iter().map(|(_, t)| t.len()).sum();
    println!(
        "SECURITY secrets channels={} bytes={bytes} secrets={} leaked={}",
        outputs.len(),
        secrets.len(),
        leaks.len()
    );
    assert!(leaks.is_empty(), "{}", leaks.join("\n"));
}
