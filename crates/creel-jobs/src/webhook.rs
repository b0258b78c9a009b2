//! The internal `webhook` job kind: one delivery of a job's completion event to the webhook the
//! job asked for, as a queued job of its own. A delivery retries with the queue's standard
//! policy (`retry.webhook`, else `events.webhook.max_attempts`/`base_delay_ms`) and waits in the
//! scheduled set between attempts, so a dead endpoint holds no worker slot while it backs off;
//! at most `events.webhook.per_endpoint_concurrency` deliveries to one endpoint (scheme, host,
//! port) run at once in a worker, so a slow endpoint cannot take a queue's whole concurrency.
//!
//! Each request is signed as Standard Webhooks says (`webhook-id`, `webhook-timestamp`,
//! `webhook-signature: v1,<base64 HMAC-SHA256 of id.timestamp.body>`, one signature per
//! configured key so receivers can rotate); the legacy `X-Creel-Signature: sha256=<hex>` is
//! added while `events.webhook.secret` is set. How it went is recorded on the job the event is
//! about (`webhook_delivery`). Callers cannot enqueue this kind: the validator refuses it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use creel_core::config::WebhookConfig;
use creel_core::{
    CompletionEvent, Config, IdempotencyScope, JobError, JobId, JobRequest, JobRequestError,
};
use creel_queue::{JobContext, JobRecord, StepOutcome};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::JobDeps;

/// How long a delivery that found its endpoint's slots taken waits before trying again (not
/// an attempt: it is handed back with `RetryAfter`).
const SLOT_WAIT: Duration = Duration::from_millis(500);

/// The payload of a `webhook` job: which event goes where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSpec {
    /// The job the event is about (its record gets `webhook_delivery`).
    pub job_id: JobId,
    /// The event's id (`webhook-id`, `X-Creel-Event-Id`).
    pub event_id: String,
    /// The webhook URL, as the job gave it (checked against the allow-list again on every
    /// attempt).
    pub url: String,
    /// The event exactly as it is sent and signed (CloudEvents JSON).
    pub body: String,
}

impl WebhookSpec {
    /// The delivery of `event` (as its stream `body`) for `job`, if the job asked for a
    /// webhook: a request on `queue` (or the job's own queue), owned by the job's owner,
    /// keyed by the event so that a stream entry read twice enqueues one delivery.
    #[must_use]
    pub fn request_for(
        event: &CompletionEvent,
        body: &str,
        job: &JobRecord,
        queue: Option<&str>,
    ) -> Option<JobRequest> {
        let url = job.webhook.clone()?;
        let spec = Self {
            job_id: job.id.clone(),
            event_id: event.id.clone(),
            url,
            body: body.to_owned(),
        };
        let payload = serde_json::to_value(&spec).ok()?;
        Some(JobRequest {
            queue: queue.unwrap_or(&job.queue).to_owned(),
            idempotency_key: Some(format!("webhook:{}", event.id)),
            idempotency_scope: IdempotencyScope::Internal,
            created_by: job.created_by.clone(),
            traceparent: job.traceparent.clone(),
            tracestate: job.tracestate.clone(),
            ..JobRequest::new(<Self as crate::Kind>::NAME, payload)
        })
    }
}

impl crate::Kind for WebhookSpec {
    const NAME: &'static str = "webhook";
    const ENQUEUED_BY: crate::kind::EnqueuedBy = crate::kind::EnqueuedBy::Creel;

    fn decode(payload: &Value) -> Result<Self, JobRequestError> {
        crate::kind::decode_payload(payload)
    }

    /// Never reached from a caller ([`crate::kind::EnqueuedBy::Creel`]); refuses all the same.
    fn validate(&self, request: &JobRequest, _: &Config) -> Result<(), JobRequestError> {
        Err(crate::kind::internal_kind(&request.kind))
    }

    async fn run(&self, ctx: &JobContext, deps: &JobDeps) -> Result<StepOutcome, JobError> {
        deliver(self, ctx, deps).await
    }

    async fn after_cancel(_: &creel_queue::JobRecord, _: &Value, _: &JobDeps) -> Option<Value> {
        None
    }
}

/// What webhook deliveries share in one worker: the HTTP client (no proxy, no redirects, the
/// configured timeout), the signing keys (decoded once) and the slots per endpoint.
pub struct WebhookSender {
    http: reqwest::Client,
    /// The Standard Webhooks keys' bytes, newest first.
    keys: Vec<Vec<u8>>,
    /// The legacy `X-Creel-Signature` key.
    legacy: Option<String>,
    per_endpoint: usize,
    slots: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl std::fmt::Debug for WebhookSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSender")
            .field("keys", &self.keys.len())
            .field("per_endpoint", &self.per_endpoint)
            .finish_non_exhaustive()
    }
}

impl WebhookSender {
    /// A sender for `cfg`.
    ///
    /// # Errors
    /// The HTTP client cannot be built (no TLS backend).
    pub fn new(cfg: &WebhookConfig) -> Result<Self, reqwest::Error> {
        // Like downloads, deliveries ignore environment proxies: through one, the allow-list
        // would no longer decide where a request goes.
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_millis(cfg.timeout_ms))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            http,
            keys: cfg
                .signing_keys()
                .iter()
                .filter_map(|k| creel_core::config::webhook_key_bytes(k.expose()))
                .collect(),
            legacy: cfg.secret.as_ref().map(|s| s.expose().to_owned()),
            per_endpoint: cfg.per_endpoint_concurrency.max(1),
            slots: Mutex::default(),
        })
    }

    /// A slot for `url`'s endpoint, if one is free.
    fn slot(&self, url: &url::Url) -> Option<OwnedSemaphorePermit> {
        let endpoint = format!(
            "{}://{}:{}",
            url.scheme(),
            url.host_str().unwrap_or(""),
            url.port_or_known_default().unwrap_or(0)
        );
        let semaphore = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            Arc::clone(
                slots
                    .entry(endpoint)
                    .or_insert_with(|| Arc::new(Semaphore::new(self.per_endpoint))),
            )
        };
        semaphore.try_acquire_owned().ok()
    }
}

/// One attempt of a delivery.
async fn deliver(
    spec: &WebhookSpec,
    ctx: &JobContext,
    deps: &JobDeps,
) -> Result<StepOutcome, JobError> {
    let cfg = &deps.config.events.webhook;
    if !cfg.allows(&spec.url) {
        // Accepted under an allow-list that has since been narrowed: not sent.
        return Err(JobError::permanent(
            "the webhook is no longer allowed by events.webhook.allow; not delivered",
        ));
    }
    let url = url::Url::parse(&spec.url)
        .map_err(|e| JobError::permanent(format!("the webhook is not a URL: {e}")))?;
    let job = deps
        .queue
        .get(&spec.job_id)
        .await
        .map_err(|e| JobError::retryable(format!("reading job {}: {e}", spec.job_id)))?;
    if job
        .as_ref()
        .and_then(|j| j.webhook_delivery.as_ref())
        .is_some_and(|d| d["event_id"] == spec.event_id.as_str() && d["status"] == "delivered")
    {
        // Sent before a crash kept this attempt from being recorded.
        return Ok(StepOutcome::Done(
            json!({"status": "delivered", "before": true}),
        ));
    }
    let Some(_slot) = deps.webhooks.slot(&url) else {
        return Err(JobError::retry_after(
            SLOT_WAIT,
            "every delivery slot of this endpoint is taken",
        ));
    };
    let sent = deps.webhooks.send(spec).await;
    let last_attempt = ctx.attempt
        >= deps
            .queue
            .config()
            .retry_policy(<WebhookSpec as crate::Kind>::NAME)
            .max_attempts;
    let (status, code, error) = match &sent {
        Ok(code) => ("delivered", Some(*code), None),
        Err((code, e)) if last_attempt => ("failed", *code, Some(e.clone())),
        Err((code, e)) => ("retrying", *code, Some(e.clone())),
    };
    let record = json!({
        "status": status,
        "event_id": spec.event_id,
        "delivery_job": ctx.id,
        "attempts": ctx.attempt,
        "last_status": code,
        "last_error": error,
        "at": chrono::Utc::now().to_rfc3339(),
    });
    if job.is_some()
        && let Err(e) = deps
            .queue
            .record_webhook_delivery(&spec.job_id, &record)
            .await
    {
        tracing::warn!(job = %spec.job_id, error = %e, "cannot record the webhook delivery");
    }
    match sent {
        Ok(code) => Ok(StepOutcome::Done(
            json!({"status": "delivered", "http_status": code}),
        )),
        Err((_, e)) => Err(JobError::retryable(format!("webhook delivery: {e}"))),
    }
}

impl WebhookSender {
    /// Sends the event once: the HTTP status of a 2xx answer, or the status (if any) and why
    /// not.
    async fn send(&self, spec: &WebhookSpec) -> Result<u16, (Option<u16>, String)> {
        let body = spec.body.as_bytes();
        let mut req = self
            .http
            .post(&spec.url)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/cloudevents+json",
            )
            .header("X-Creel-Event-Id", &spec.event_id)
            .body(spec.body.clone());
        if !self.keys.is_empty() {
            // The timestamp is of this attempt, so a receiver's tolerance window holds on retries.
            let now = chrono::Utc::now().timestamp();
            req = req
                .header("webhook-id", &spec.event_id)
                .header("webhook-timestamp", now.to_string())
                .header(
                    "webhook-signature",
                    standard_signature(&self.keys, &spec.event_id, now, body),
                );
        }
        if let Some(secret) = &self.legacy {
            req = req.header("X-Creel-Signature", signature(secret, body));
        }
        match req.send().await {
            Ok(r) if r.status().is_success() => Ok(r.status().as_u16()),
            Ok(r) => Err((
                Some(r.status().as_u16()),
                format!("HTTP {}", r.status().as_u16()),
            )),
            Err(e) => Err((None, e.without_url().to_string())),
        }
    }
}

/// The legacy `X-Creel-Signature` header value for `body`.
#[must_use]
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The Standard Webhooks `webhook-signature` value: `v1,<base64 HMAC-SHA256>` of
/// `<id>.<timestamp>.<body>` under each key, space-separated.
#[must_use]
pub fn standard_signature(keys: &[Vec<u8>], id: &str, timestamp: i64, body: &[u8]) -> String {
    use base64::Engine as _;
    keys.iter()
        .map(|key| {
            let mut mac =
                Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
            mac.update(format!("{id}.{timestamp}.").as_bytes());
            mac.update(body);
            let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
            format!("v1,{sig}")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hex_hmac_sha256() {
        // RFC 4231 test case 2
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn standard_signature_matches_the_spec_example() {
        // The example of the Standard Webhooks specification (and of its reference libraries).
        let key = creel_core::config::webhook_key_bytes("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
            .expect("base64");
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            standard_signature(
                std::slice::from_ref(&key),
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                body
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        let two = standard_signature(
            &[key.clone(), b"another-key-of-16-bytes".to_vec()],
            "m",
            1,
            body,
        );
        assert_eq!(two.split(' ').count(), 2);
    }

    #[test]
    fn slots_bound_each_endpoint_separately() {
        let cfg = WebhookConfig {
            per_endpoint_concurrency: 2,
            ..WebhookConfig::default()
        };
        let sender = WebhookSender::new(&cfg).expect("client");
        let a = url::Url::parse("https://a.example/x").expect("url");
        let a_default_port = url::Url::parse("https://a.example:443/y").expect("url");
        let b = url::Url::parse("https://b.example/x").expect("url");
        let first = sender.slot(&a).expect("first");
        let _second = sender.slot(&a_default_port).expect("second, same endpoint");
        assert!(
            sender.slot(&a).is_none(),
            "a third to the same endpoint waits"
        );
        assert!(
            sender.slot(&b).is_some(),
            "another endpoint has its own slots"
        );
        drop(first);
        assert!(sender.slot(&a).is_some(), "a freed slot is taken again");
    }
}
