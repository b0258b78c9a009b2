//! Completion events: one CloudEvents 1.0 JSON document per finished job run, appended to the
//! `creel:events` stream (and optionally POSTed to a per-job webhook).

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::{JobId, JobState, VendorFailure};

/// The CloudEvents `type` of a completion event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventType {
    /// `creel.job.succeeded`
    #[serde(rename = "creel.job.succeeded")]
    Succeeded,
    /// `creel.job.failed`
    #[serde(rename = "creel.job.failed")]
    Failed,
    /// `creel.job.cancelled`
    #[serde(rename = "creel.job.cancelled")]
    Cancelled,
}

impl EventType {
    /// The event type for a terminal state; `None` for a state that is not terminal.
    #[must_use]
    pub fn for_state(state: JobState) -> Option<Self> {
        match state {
            JobState::Succeeded => Some(Self::Succeeded),
            JobState::Failed => Some(Self::Failed),
            JobState::Cancelled => Some(Self::Cancelled),
            _ => None,
        }
    }

    /// The type string, e.g. `creel.job.succeeded`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "creel.job.succeeded",
            Self::Failed => "creel.job.failed",
            Self::Cancelled => "creel.job.cancelled",
        }
    }
}

/// The `data` of a completion event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompletionData {
    /// The job.
    pub job_id: JobId,
    /// Its kind.
    pub kind: String,
    /// Its queue.
    pub queue: String,
    /// The vendor account it acted for, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// The terminal state.
    pub state: JobState,
    /// Attempts made by the last step.
    pub attempts: u32,
    /// The job's result (on success).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    /// Why it failed or was cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// On a failure the vendor caused: its code (or task status) and message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor_failure: Option<VendorFailure>,
}

/// A CloudEvents 1.0 event in structured JSON mode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompletionEvent {
    /// Always `1.0`.
    pub specversion: String,
    /// Unique per event.
    pub id: String,
    /// Where it comes from, e.g. `/creel/default`.
    pub source: String,
    /// See [`EventType`].
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// The job id.
    pub subject: String,
    /// When the job finished (RFC 3339).
    pub time: String,
    /// Always `application/json`.
    pub datacontenttype: String,
    /// What happened.
    pub data: CompletionData,
}

impl CompletionEvent {
    /// A new event for a job that reached a terminal state at `time`. Returns `None` if
    /// `data.state` is not terminal.
    #[must_use]
    pub fn new(source: &str, data: CompletionData, time: DateTime<Utc>) -> Option<Self> {
        let event_type = EventType::for_state(data.state)?;
        Some(Self {
            specversion: "1.0".to_owned(),
            id: ulid::Ulid::new().to_string(),
            source: source.to_owned(),
            event_type,
            subject: data.job_id.to_string(),
            time: time.to_rfc3339_opts(SecondsFormat::Millis, true),
            datacontenttype: "application/json".to_owned(),
            data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_has_the_cloudevents_required_attributes() {
        let data = CompletionData {
            job_id: JobId::generate(),
            kind: "download".into(),
            queue: "default".into(),
            account: None,
            state: JobState::Succeeded,
            attempts: 1,
            result: Some(serde_json::json!({"bytes": 3})),
            error: None,
            vendor_failure: None,
        };
        let ev =
            CompletionEvent::new("/creel/default", data.clone(), Utc::now()).expect("terminal");
        let v = serde_json::to_value(&ev).expect("serializes");
        for attr in [
            "specversion",
            "id",
            "source",
            "type",
            "subject",
            "time",
            "data",
        ] {
            assert!(v.get(attr).is_some(), "missing {attr}");
        }
        assert_eq!(v["type"], "creel.job.succeeded");
        assert_eq!(v["subject"], data.job_id.to_string());
        let running = CompletionData {
            state: JobState::Running,
            ..data
        };
        assert!(CompletionEvent::new("/creel/default", running, Utc::now()).is_none());
    }
}
