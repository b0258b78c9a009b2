//! Per-job webhooks: a consumer group on the events stream POSTs each completion event of a job
//! that asked for a webhook, signed as the Standard Webhooks spec says (`webhook-id`,
//! `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256 of id.timestamp.body>`, one
//! signature per configured key so receivers can rotate), retried with exponential backoff, and
//! records the delivery on the job. The legacy `X-Creel-Signature: sha256=<hex>` header is kept
//! while the legacy `events.webhook.secret` is set. Entries a crashed worker left
//! unacknowledged are reclaimed by another after a minute.

use std::sync::Arc;
use std::time::Duration;

use creel_core::config::WebhookConfig;
use creel_core::{Config, Event};
use creel_queue::Queue;

use crate::consumer::{Consumer, Handled};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio_util::sync::CancellationToken;

const GROUP: &str = "creel-webhooks";

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

/// Delivers webhooks until `stop` is cancelled.
pub async fn deliver(queue: Queue, config: Arc<Config>, stop: CancellationToken) {
    // Like downloads, deliveries ignore environment proxies: through one, the allow-list
    // would no longer decide where a request goes.
    let http = match reqwest::Client::builder()
        .no_proxy()
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
    let event = match serde_json::from_str::<Event>(body) {
        Ok(Event::Job(event)) => event,
        // The intake's answers to requests have no webhook.
        Ok(Event::Request(_)) => return,
        Err(e) => {
            tracing::warn!(error = %e, "skipping an event that does not parse");
            return;
        }
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
    if !cfg.allows(&url) {
        // Accepted under an allow-list that has since been narrowed: not sent.
        tracing::warn!(job = %job.id, "the job's webhook is no longer allowed by events.webhook.allow; not delivered");
        return;
    }
    if job
        .webhook_delivery
        .as_ref()
        .is_some_and(|d| d["event_id"] == event.id.as_str() && d["status"] == "delivered")
    {
        return; // delivered before a crash kept us from acknowledging
    }
    let legacy_sig = cfg
        .secret
        .as_ref()
        .map(|s| signature(s.expose(), body.as_bytes()));
    let keys: Vec<Vec<u8>> = cfg
        .signing_keys()
        .iter()
        .filter_map(|k| creel_core::config::webhook_key_bytes(k.expose()))
        .collect();
    let mut attempts = 0;
    let mut delay = creel_core::Backoff::new(
        Duration::from_millis(cfg.base_delay_ms),
        Duration::from_secs(300),
    );
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
        if !keys.is_empty() {
            // The timestamp is of this attempt, so a receiver's tolerance window holds on retries.
            let now = chrono::Utc::now().timestamp();
            req = req
                .header("webhook-id", &event.id)
                .header("webhook-timestamp", now.to_string())
                .header(
                    "webhook-signature",
                    standard_signature(&keys, &event.id, now, body.as_bytes()),
                );
        }
        if let Some(sig) = &legacy_sig {
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
            Err(e) => (None, Some(e.without_url().to_string())),
        };
        if attempts >= cfg.max_attempts.max(1) {
            break ("failed", code, error);
        }
        tracing::info!(job = %job.id, attempts, error = ?error, "webhook delivery failed; retrying");
        tokio::time::sleep(delay.next_wait()).await;
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
}
