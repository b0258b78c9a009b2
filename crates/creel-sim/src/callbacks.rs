//! Outbound callbacks: POST to the configured URL, retried on the vendor's schedule (scaled by
//! the clock) until the receiver answers 200 with `code` 0; can be dropped on purpose.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

use crate::clock::SimClock;

/// A callback's body.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum CallbackBody {
    /// `application/x-www-form-urlencoded` (Baijiayun).
    Form(Vec<(String, String)>),
    /// JSON (Plaso).
    Json(serde_json::Value),
}

/// One delivery attempt, for inspection.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    /// `plaso` or `baijiayun`.
    pub vendor: String,
    /// Where it went.
    pub url: String,
    /// What was sent.
    pub body: CallbackBody,
    /// 1 for the first try.
    pub attempt: u32,
    /// Whether the receiver acknowledged it.
    pub acknowledged: bool,
    /// Whether it was dropped on purpose (not sent).
    pub dropped: bool,
}

/// Sends callbacks and remembers every attempt.
#[derive(Debug, Clone)]
pub(crate) struct CallbackSender {
    http: reqwest::Client,
    clock: SimClock,
    deliveries: Arc<Mutex<Vec<Delivery>>>,
    drop_next: Arc<Mutex<u32>>,
}

impl CallbackSender {
    pub(crate) fn new(clock: SimClock) -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
            clock,
            deliveries: Arc::default(),
            drop_next: Arc::default(),
        }
    }

    /// Drops the next `n` callbacks (each with all its retries).
    pub(crate) fn drop_next(&self, n: u32) {
        *self.drop_next.lock().unwrap_or_else(|p| p.into_inner()) = n;
    }

    /// Every attempt so far.
    #[must_use]
    pub(crate) fn deliveries(&self) -> Vec<Delivery> {
        self.deliveries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn clear(&self) {
        self.deliveries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        self.drop_next(0);
    }

    fn record(&self, d: Delivery) {
        self.deliveries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(d);
    }

    /// Sends `body` to `url` now, then after each delay of `retries` (vendor time) while it is
    /// not acknowledged.
    /// Returns whether the receiver finally acknowledged it.
    pub(crate) fn send(
        &self,
        vendor: &str,
        url: &str,
        body: CallbackBody,
        retries: &[Duration],
    ) -> tokio::task::JoinHandle<bool> {
        let dropped = {
            let mut n = self.drop_next.lock().unwrap_or_else(|p| p.into_inner());
            let d = *n > 0;
            *n = n.saturating_sub(1);
            d
        };
        if dropped {
            self.record(Delivery {
                vendor: vendor.to_owned(),
                url: url.to_owned(),
                body,
                attempt: 1,
                acknowledged: false,
                dropped: true,
            });
            return tokio::spawn(async { false });
        }
        let this = self.clone();
        let (vendor, url, retries) = (vendor.to_owned(), url.to_owned(), retries.to_vec());
        tokio::spawn(async move {
            for attempt in 1..=retries.len() as u32 + 1 {
                let request = match &body {
                    CallbackBody::Form(f) => this.http.post(&url).form(f),
                    CallbackBody::Json(j) => this.http.post(&url).json(j),
                };
                let acknowledged = match request.send().await {
                    Ok(r) if r.status().is_success() => {
                        r.json::<serde_json::Value>().await.is_ok_and(|v| {
                            v.get("code").and_then(serde_json::Value::as_i64) == Some(0)
                        })
                    }
                    _ => false,
                };
                this.record(Delivery {
                    vendor: vendor.clone(),
                    url: url.clone(),
                    body: body.clone(),
                    attempt,
                    acknowledged,
                    dropped: false,
                });
                if acknowledged {
                    return true;
                }
                if let Some(delay) = retries.get(attempt as usize - 1) {
                    tokio::time::sleep(this.clock.real(*delay)).await;
                }
            }
            false
        })
    }
}
