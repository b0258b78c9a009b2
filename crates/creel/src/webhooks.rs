//! Per-job webhooks: a consumer group on the events stream POSTs each completion event of a job
//! that asked for a webhook, signed `X-Creel-Signature: sha256=<hex HMAC-SHA256 of the body>`,
//! retried with exponential backoff, and records the delivery on the job. Entries a crashed
//! worker left unacknowledged are reclaimed by another after a minute.

use std::sync::Arc;
use std::time::Duration;

use creel_core::config::WebhookConfig;
use creel_core::{CompletionEvent, Config};
use creel_queue::Queue;

use crate::consumer::{Consumer, Handled};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio_util::sync::CancellationToken;

const GROUP: &str = "creel-webhooks";

/// The signature header value for `body`.
#[must_use]
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Delivers webhooks until `stop` is cancelled.
pub async fn deliver(queue: Queue, config: Arc<Config>, stop: CancellationToken) {
    let http = match reqwest::Client::builder()
        .timeout(Duration::from_millis(config.events.webhook.timeout_ms))
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the webhook client; webhooks are off");
            return;
        }
    };
    Consumer::of_events(GROUP)
        .run(queue.clone(), stop, |entry| {
            let (queue, http, config) = (&queue, &http, &config);
            async move {
                if let Some(body) = entry.fields.get("event") {
                    deliver_one(queue, http, &config.events.webhook, body).await;
                }
                Handled::Done
            }
        })
        .await;
}

async fn deliver_one(queue: &Queue, http: &reqwest::Client, cfg: &WebhookConfig, body: &str) {
    let Ok(event) = serde_json::from_str::<CompletionEvent>(body) else {
        return; // intake outcomes and other event types have no webhook
    };
    let job = match queue.get(&event.data.job_id).await {
        Ok(Some(job)) => job,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(job = %event.data.job_id, error = %e, "cannot read the job for its webhook");
            return;
        }
    };
    let Some(url) = job.webhook else { return };
    if job
        .webhook_delivery
        .as_ref()
        .is_some_and(|d| d["event_id"] == event.id.as_str() && d["status"] == "delivered")
    {
        return; // delivered before a crash kept us from acknowledging
    }
    let sig = cfg
        .secret
        .as_ref()
        .map(|s| signature(s.expose(), body.as_bytes()));
    let mut attempts = 0;
    let mut delay = Duration::from_millis(cfg.base_delay_ms);
    let (status, last_code, last_error) = loop {
        attempts += 1;
        let mut req = http
            .post(&url)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/cloudevents+json",
            )
            .header("X-Creel-Event-Id", &event.id)
            .body(body.to_owned());
        if let Some(sig) = &sig {
            req = req.header("X-Creel-Signature", sig);
        }
        let (code, error) = match req.send().await {
            Ok(r) if r.status().is_success() => {
                break ("delivered", Some(r.status().as_u16()), None);
            }
            Ok(r) => (
                Some(r.status().as_u16()),
                Some(format!("HTTP {}", r.status().as_u16())),
            ),
            Err(e) => (None, Some(e.to_string())),
        };
        if attempts >= cfg.max_attempts.max(1) {
            break ("failed", code, error);
        }
        tracing::info!(job = %job.id, attempts, error = ?error, "webhook delivery failed; retrying");
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(300));
    };
    let record = serde_json::json!({
        "status": status,
        "event_id": event.id,
        "attempts": attempts,
        "last_status": last_code,
        "last_error": last_error,
        "at": chrono::Utc::now().to_rfc3339(),
    });
    if let Err(e) = queue.record_webhook_delivery(&job.id, &record).await {
        tracing::warn!(job = %job.id, error = %e, "cannot record the webhook delivery");
    }
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
}
