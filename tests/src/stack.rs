//! The whole of creel in one test process, as `creel demo` runs it: a private redis-server, a
//! sample-lesson server with a webhook receiver, the API on a free port, and (when the test
//! asks for it) a worker; all configured through the same `Config` a deployment uses.

use creel::telemetry::MetricsHandle;
use std::sync::Arc;
use std::time::Duration;

use creel::samples::SampleServer;
use creel_core::config::{ApiToken, Scope};
use creel_core::{Config, Secret};
use creel_queue::Queue;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Samples every stack serves: an 11 MiB, a 3 MiB and a 1 MiB lesson.
pub const SAMPLES: &[(&str, usize)] = &[
    ("huge.mp4", 11 << 20),
    ("big.mp4", 3 << 20),
    ("small.mp4", 1 << 20),
];

/// A running creel.
#[derive(Debug)]
pub struct Stack {
    /// The private Redis (a cluster with `TEST_REDIS=cluster`).
    pub redis: crate::TestRedis,
    /// A queue handle for assertions.
    pub queue: Queue,
    /// The API's base URL.
    pub api: String,
    /// A valid bearer token.
    pub token: String,
    /// The sample server and webhook receiver.
    pub samples: SampleServer,
    /// The `local` storage profile's directory.
    pub out: tempfile::TempDir,
    /// The configuration everything runs with.
    pub config: Arc<Config>,
    /// An HTTP client.
    pub http: reqwest::Client,
    stop: CancellationToken,
    tasks: Vec<JoinHandle<anyhow::Result<()>>>,
}

impl Stack {
    /// Starts Redis, the sample server and the API (no worker yet); sources on 127.0.0.1 are
    /// allowed.
    pub async fn start() -> Self {
        Self::start_with(|cfg| cfg.download.allow_hosts.push("127.0.0.1".into())).await
    }

    /// Like [`Stack::start`], with the test's own changes to the configuration.
    pub async fn start_with(edit: impl FnOnce(&mut Config)) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        Self::start_on(listener, edit).await
    }

    /// Like [`Stack::start_with`], serving the API on `listener`: bind it first when a vendor
    /// simulator must know the callback URLs before creel starts.
    pub async fn start_on(
        listener: tokio::net::TcpListener,
        edit: impl FnOnce(&mut Config),
    ) -> Self {
        Self::start_serving(listener, MetricsHandle::default(), edit).await
    }

    /// Like [`Stack::start_with`], with the API serving `metrics` on `/metrics`.
    pub async fn start_with_metrics(
        metrics: MetricsHandle,
        edit: impl FnOnce(&mut Config),
    ) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        Self::start_serving(listener, metrics, edit).await
    }

    async fn start_serving(
        listener: tokio::net::TcpListener,
        metrics: MetricsHandle,
        edit: impl FnOnce(&mut Config),
    ) -> Self {
        let redis = crate::TestRedis::start();
        let samples = SampleServer::start(SAMPLES, Duration::ZERO, "hook-secret")
            .await
            .expect("sample server");
        let out = tempfile::tempdir().expect("tempdir");
        let token = "test-token-of-thirty-two-bytes-at-least".to_owned();
        let mut config = creel::local_config::local_config(creel::local_config::LocalParts {
            redis_url: redis.url(),
            out_dir: out.path(),
            samples_base: &samples.base,
            hook_secret: "hook-secret",
            token: ApiToken {
                name: "tests".into(),
                token: Secret::new(token.clone()),
                scopes: vec![Scope::Admin],
            },
        });
        redis.configure(&mut config.redis);
        config.api.max_body_bytes = 16 * 1024;
        config.worker.lease_ms = 2_000;
        config.worker.drain_ms = 1_000;
        // The key as the legacy single secret, so deliveries carry X-Creel-Signature too.
        config.events.webhook.secrets.clear();
        config.events.webhook.secret = Some(Secret::new("hook-secret"));
        config.events.webhook.base_delay_ms = 100;
        edit(&mut config);
        let config = Arc::new(config);
        let queue = Queue::connect(creel::settings::queue_config(&config))
            .await
            .expect("queue");
        let api = format!("http://{}", listener.local_addr().expect("addr"));
        let stop = CancellationToken::new();
        let tasks = vec![tokio::spawn(creel::api::serve(
            Arc::clone(&config),
            queue.clone(),
            listener,
            metrics,
            stop.clone(),
        ))];
        Self {
            redis,
            queue,
            api,
            token,
            samples,
            out,
            config,
            http: reqwest::Client::new(),
            stop,
            tasks,
        }
    }

    /// Starts a worker for the configured queues (with webhook delivery).
    pub fn start_worker(&mut self) {
        self.tasks.push(tokio::spawn(creel::worker::run(
            Arc::clone(&self.config),
            self.queue.clone(),
            self.stop.clone(),
        )));
    }

    /// A `download` request body for a sample.
    #[must_use]
    pub fn download(&self, sample: &str) -> serde_json::Value {
        serde_json::json!({
            "kind": "download",
            "payload": { "url": self.samples.url(sample), "profile": "local", "key": format!("t/{{job_id}}-{sample}") }
        })
    }

    /// POSTs a job request with the token.
    pub async fn post_job(&self, body: &serde_json::Value) -> reqwest::Response {
        self.http
            .post(format!("{}/v1/jobs", self.api))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .expect("POST /v1/jobs")
    }

    /// POSTs `body` to `/v1/jobs`, expects 201, and returns the new job's id.
    pub async fn create_job(&self, body: &serde_json::Value) -> creel_core::JobId {
        let res = self.post_job(body).await;
        assert_eq!(res.status(), 201, "POST /v1/jobs {body}");
        res.json::<serde_json::Value>().await.expect("json")["id"]
            .as_str()
            .expect("id")
            .parse()
            .expect("job id")
    }

    /// POSTs `/v1/jobs/{id}/cancel` with the token.
    pub async fn cancel_job(&self, id: &creel_core::JobId) -> reqwest::Response {
        self.http
            .post(format!("{}/v1/jobs/{id}/cancel", self.api))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("POST /v1/jobs/{id}/cancel")
    }

    /// GETs a path of the API with the token, as JSON.
    pub async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let res = self
            .http
            .get(format!("{}{path}", self.api))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("GET");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// Stops the API and the worker gracefully and waits for them.
    pub async fn stop(self) {
        self.stop.cancel();
        for t in self.tasks {
            tokio::time::timeout(Duration::from_secs(20), t)
                .await
                .expect("stopped within 20 s")
                .expect("task")
                .expect("clean stop");
        }
    }
}
