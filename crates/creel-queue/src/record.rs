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

    /// Parses the fields of the hash of job `id` in `queue`. `None` for an empty hash (no such
    /// job).
    ///
    /// A record stores neither its id nor its queue (both are in its key; records written
    /// before did, and their copies are ignored), nor who holds its lease apart from the lease
    /// token (which starts with the worker's id), nor an `updated_at` that another stamp of
    /// the same write already says: each field a hot script leaves out is Redis work saved on
    /// every job (issue 19). `updated_at` is the latest of the stamps.
    pub fn from_hash(
        mut h: HashMap<String, String>,
        id: &str,
        queue: &str,
    ) -> Result<Option<Self>, QueueError> {
        if h.is_empty() {
            return Ok(None);
        }
        h.remove("id");
        h.remove("queue");
        let id_text = id.to_owned();
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
        let started_at = time(take("started_at"), "started_at")?;
        let finished_at = time(take("finished_at"), "finished_at")?;
        let updated_at = [
            time(take("updated_at"), "updated_at")?,
            started_at,
            finished_at,
        ]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(created_at);
        let worker = take("lease_token")
            .as_deref()
            .and_then(worker_of_token)
            .or_else(|| take("worker"));
        Ok(Some(Self {
            id,
            queue: queue.to_owned(),
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
            worker,
            updated_at,
            run_at: time(take("run_at"), "run_at")?.unwrap_or(created_at),
            started_at,
            finished_at,
            created_at,
        }))
    }
}

/// The worker a lease token names: tokens are `<worker id>:<call>:<n>` (see
/// `WorkerShared::lease_args`).
fn worker_of_token(token: &str) -> Option<String> {
    let mut parts = token.rsplitn(3, ':');
    let (_n, _call) = (parts.next()?, parts.next()?);
    parts.next().filter(|w| !w.is_empty()).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "01JD00000000000000000000AB";

    fn hash(fields: &[(&str, &str)]) -> HashMap<String, String> {
        fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_key_names_the_job_and_the_lease_token_its_worker() {
        let h = hash(&[
            ("kind", "noop"),
            ("payload", "{}"),
            ("state", "running"),
            ("created_at", "1000"),
            ("updated_at", "1000"),
            ("started_at", "2000"),
            ("lease_token", "pod-7-default-1764000000000-00ff:12:3"),
        ]);
        let rec = JobRecord::from_hash(h, ID, "default")
            .expect("parses")
            .expect("a job");
        assert_eq!(rec.id.as_str(), ID);
        assert_eq!(rec.queue, "default");
        assert_eq!(
            rec.worker.as_deref(),
            Some("pod-7-default-1764000000000-00ff")
        );
        // A lease writes started_at, not updated_at: the later stamp is when it changed.
        assert_eq!(rec.updated_at.timestamp_millis(), 2000);
    }

    #[test]
    fn records_written_before_keep_their_worker_and_their_copies_of_key_fields_are_ignored() {
        let h = hash(&[
            ("id", "not-this"),
            ("queue", "nor-this"),
            ("kind", "noop"),
            ("payload", "{}"),
            ("state", "succeeded"),
            ("created_at", "1000"),
            ("updated_at", "5000"),
            ("finished_at", "4000"),
            ("worker", "old-worker"),
        ]);
        let rec = JobRecord::from_hash(h, ID, "default")
            .expect("parses")
            .expect("a job");
        assert_eq!((rec.id.as_str(), rec.queue.as_str()), (ID, "default"));
        assert_eq!(rec.worker.as_deref(), Some("old-worker"));
        assert_eq!(rec.updated_at.timestamp_millis(), 5000);
        assert!(worker_of_token("no-colons").is_none());
        assert!(
            JobRecord::from_hash(HashMap::new(), ID, "default")
                .expect("empty is fine")
                .is_none()
        );
    }
}
