//! The job record: everything Redis holds about one job, as the API and CLI show it.

use std::collections::HashMap;

use chrono::{DateTime, TimeZone, Utc};
use creel_core::{JobId, JobState};
use serde::Serialize;

use crate::QueueError;

/// One job as stored in its Redis hash.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct JobRecord {
    /// The job's id.
    pub id: JobId,
    /// Its queue.
    pub queue: String,
    /// Its kind.
    pub kind: String,
    /// The vendor account it acts for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Its payload (a JSON string holding text that is not JSON is kept as it is).
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    /// Its state.
    pub state: JobState,
    /// Attempts of the current step (reset when a step hands over to the next).
    pub attempts: u32,
    /// Runs: 1, plus one per requeue.
    pub runs: u32,
    /// How often its lease expired (its worker died or stalled).
    pub lease_losses: u32,
    /// The current step of a multi-step job.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// Progress the running step reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub progress: Option<serde_json::Value>,
    /// What the step saved to resume from (an upload id and finished parts, say).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub checkpoint: Option<serde_json::Value>,
    /// The result (on success).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub result: Option<serde_json::Value>,
    /// The last error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// A cancellation is pending (it takes effect at the next step boundary).
    pub cancel_requested: bool,
    /// Where its completion event is POSTed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook: Option<String>,
    /// How that delivery went.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub webhook_delivery: Option<serde_json::Value>,
    /// What was tidied after a cancellation: the multipart upload a download left open,
    /// aborted; a classroom job's vendor task, which vendors offer no way to cancel, recorded
    /// as abandoned with its ids.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub cleanup: Option<serde_json::Value>,
    /// The producer's idempotency key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// The producer's W3C traceparent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    /// The producer's W3C tracestate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracestate: Option<String>,
    /// The principal that owns it (who enqueued it; a child's is its parent's owner).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// The job whose child it is (a delivery of a classroom job).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub parent: Option<JobId>,
    /// The worker that last leased it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worker: Option<String>,
    /// When it was enqueued.
    pub created_at: DateTime<Utc>,
    /// When its state last changed.
    pub updated_at: DateTime<Utc>,
    /// When it is (or was) due.
    pub run_at: DateTime<Utc>,
    /// When its last step started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    /// When it reached a terminal state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
}

impl JobRecord {
    /// The record as shown outside creel (API answers, the CLI): the query values of every URL
    /// in its payload, checkpoint, progress, result and last error are redacted, since a source
    /// URL may carry a presigned signature or a vendor token. Workers read the stored record.
    #[must_use]
    pub fn redacted(mut self) -> Self {
        let redact_value = |v: &mut Option<serde_json::Value>| {
            if let Some(value) = v.as_mut() {
                let text = creel_core::redact::redact_urls(&value.to_string());
                if let Ok(clean) = serde_json::from_str(&text) {
                    *value = clean;
                }
            }
        };
        let mut payload = Some(std::mem::take(&mut self.payload));
        redact_value(&mut payload);
        self.payload = payload.unwrap_or_default();
        redact_value(&mut self.checkpoint);
        redact_value(&mut self.progress);
        redact_value(&mut self.result);
        redact_value(&mut self.webhook_delivery);
        redact_value(&mut self.cleanup);
        if let Some(e) = self.last_error.as_mut() {
            *e = creel_core::redact::redact_urls(e);
        }
        if let Some(w) = self.webhook.as_mut() {
            *w = creel_core::redact::redact_urls(w);
        }
        self
    }

    /// Parses the fields of a job hash. `None` for an empty hash (no such job).
    pub fn from_hash(mut h: HashMap<String, String>) -> Result<Option<Self>, QueueError> {
        if h.is_empty() {
            return Ok(None);
        }
        let id_text = h.remove("id").unwrap_or_default();
        let corrupt = |reason: String| QueueError::Corrupt {
            id: id_text.clone(),
            reason,
        };
        let id: JobId = id_text.parse().map_err(|e| corrupt(format!("{e}")))?;
        let mut take = |k: &str| h.remove(k).filter(|v| !v.is_empty());
        let state_text = take("state").unwrap_or_default();
        let state: JobState = state_text.parse().map_err(|e| corrupt(format!("{e}")))?;
        let number = |v: Option<String>, field: &str| -> Result<u32, QueueError> {
            match v {
                None => Ok(0),
                Some(t) => t
                    .parse::<i64>()
                    .map(|n| n.clamp(0, i64::from(u32::MAX)) as u32)
                    .map_err(|_| corrupt(format!("{field} is not a number: {t:?}"))),
            }
        };
        let time = |v: Option<String>, field: &str| -> Result<Option<DateTime<Utc>>, QueueError> {
            match v {
                None => Ok(None),
                Some(t) => {
                    let ms: i64 = t
                        .parse()
                        .map_err(|_| corrupt(format!("{field} is not a time: {t:?}")))?;
                    Ok(Utc.timestamp_millis_opt(ms).single())
                }
            }
        };
        let json = |v: Option<String>| {
            v.map(|t| serde_json::from_str(&t).unwrap_or(serde_json::Value::String(t)))
        };
        let created_at = time(take("created_at"), "created_at")?.unwrap_or_default();
        Ok(Some(Self {
            id,
            queue: take("queue").unwrap_or_default(),
            kind: take("kind").unwrap_or_default(),
            account: take("account"),
            payload: json(take("payload")).unwrap_or(serde_json::Value::Null),
            state,
            attempts: number(take("attempts"), "attempts")?,
            runs: number(take("runs"), "runs")?.max(1),
            lease_losses: number(take("lease_losses"), "lease_losses")?,
            step: take("step"),
            progress: json(take("progress")),
            result: json(take("result")),
            checkpoint: json(take("checkpoint")),
            // finish.lua leaves an earlier attempt's error in a succeeded record (one write
            // fewer per job); it is not what the job says any more.
            last_error: take("last_error").filter(|_| state != JobState::Succeeded),
            cancel_requested: take("cancel_requested").is_some_and(|v| v == "1"),
            webhook: take("webhook"),
            webhook_delivery: json(take("webhook_delivery")),
            cleanup: json(take("cleanup")),
            idempotency_key: take("idempotency_key"),
            traceparent: take("traceparent"),
            tracestate: take("tracestate"),
            created_by: take("created_by"),
            parent: take("parent").and_then(|p| p.parse().ok()),
            worker: take("worker"),
            updated_at: time(take("updated_at"), "updated_at")?.unwrap_or(created_at),
            run_at: time(take("run_at"), "run_at")?.unwrap_or(created_at),
            started_at: time(take("started_at"), "started_at")?,
            finished_at: time(take("finished_at"), "finished_at")?,
            created_at,
        }))
    }
}
