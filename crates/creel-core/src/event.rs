//! The events on the `creel:events` stream, CloudEvents 1.0 JSON documents of two families:
//! completion events, one per finished job run (also POSTed to a per-job webhook), and the
//! stream intake's answers to job requests. [`Event`] reads either, so a consumer matches on
//! the family instead of taking a failed parse for "not mine".

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

/// A CloudEvents 1.0 event in structured JSON mode, of type `T` with data `D`: the one
/// builder of both event families ([`CompletionEvent`], [`RequestEvent`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CloudEvent<T, D> {
    /// Always `1.0`.
    pub specversion: String,
    /// Unique per event (a ULID).
    pub id: String,
    /// Where it comes from, e.g. `/creel/default` or `/creel/intake`.
    pub source: String,
    /// The event's type.
    #[serde(rename = "type")]
    pub event_type: T,
    /// What it is about: a job id, or a request's stream entry id.
    pub subject: String,
    /// When it happened (RFC 3339, milliseconds, UTC).
    pub time: String,
    /// Always `application/json`.
    pub datacontenttype: String,
    /// What happened.
    pub data: D,
}

impl<T, D> CloudEvent<T, D> {
    /// An event with a fresh id.
    #[must_use]
    pub fn build(
        source: &str,
        event_type: T,
        subject: String,
        time: DateTime<Utc>,
        data: D,
    ) -> Self {
        Self {
            specversion: "1.0".to_owned(),
            id: ulid::Ulid::new().to_string(),
            source: source.to_owned(),
            event_type,
            subject,
            time: time.to_rfc3339_opts(SecondsFormat::Millis, true),
            datacontenttype: "application/json".to_owned(),
            data,
        }
    }
}

/// A completion event: one per finished job run; `subject` is the job id.
pub type CompletionEvent = CloudEvent<EventType, CompletionData>;

impl CompletionEvent {
    /// A new event for a job that reached a terminal state at `time`. Returns `None` if
    /// `data.state` is not terminal.
    #[must_use]
    pub fn new(source: &str, data: CompletionData, time: DateTime<Utc>) -> Option<Self> {
        let event_type = EventType::for_state(data.state)?;
        let subject = data.job_id.to_string();
        Some(Self::build(source, event_type, subject, time, data))
    }
}

/// The CloudEvents `type` of a request event (the stream intake's answer to one request).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RequestEventType {
    /// `creel.request.accepted`: the request became a job (or named an existing one).
    #[serde(rename = "creel.request.accepted")]
    Accepted,
    /// `creel.request.rejected`: the request was invalid; nothing was enqueued.
    #[serde(rename = "creel.request.rejected")]
    Rejected,
}

/// The `data` of a request event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestData {
    /// The request's stream entry id.
    pub request_id: String,
    /// Accepted: the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<JobId>,
    /// Accepted: whether the job is new (`false`: its idempotency key named an existing one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<bool>,
    /// Rejected: the field at fault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Rejected: what is wrong with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A request event: the stream intake's answer to one request; `subject` is the request's
/// stream entry id, `source` is `/creel/intake`.
pub type RequestEvent = CloudEvent<RequestEventType, RequestData>;

impl RequestEvent {
    fn new(event_type: RequestEventType, data: RequestData, time: DateTime<Utc>) -> Self {
        let subject = data.request_id.clone();
        Self::build("/creel/intake", event_type, subject, time, data)
    }

    /// Request `request_id` became job `job_id` (`created`: a new one).
    #[must_use]
    pub fn accepted(request_id: &str, job_id: JobId, created: bool, time: DateTime<Utc>) -> Self {
        Self::new(
            RequestEventType::Accepted,
            RequestData {
                request_id: request_id.to_owned(),
                job_id: Some(job_id),
                created: Some(created),
                field: None,
                reason: None,
            },
            time,
        )
    }

    /// Request `request_id` was refused: `field` is wrong for `reason`.
    #[must_use]
    pub fn rejected(request_id: &str, field: &str, reason: &str, time: DateTime<Utc>) -> Self {
        Self::new(
            RequestEventType::Rejected,
            RequestData {
                request_id: request_id.to_owned(),
                job_id: None,
                created: None,
                field: Some(field.to_owned()),
                reason: Some(reason.to_owned()),
            },
            time,
        )
    }
}

/// Any event on the events stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Event {
    /// A job finished.
    Job(CompletionEvent),
    /// The stream intake answered a request.
    Request(RequestEvent),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_holds_two_families_told_apart_by_type() {
        let accepted = RequestEvent::accepted("1-0", JobId::generate(), true, Utc::now());
        let text = serde_json::to_string(&accepted).expect("serializes");
        assert!(
            text.contains(r#""type":"creel.request.accepted""#),
            "{text}"
        );
        assert_eq!(
            serde_json::from_str::<Event>(&text).expect("parses"),
            Event::Request(accepted)
        );
        let rejected = RequestEvent::rejected("2-0", "kind", "unknown kind", Utc::now());
        let v = serde_json::to_value(&rejected).expect("serializes");
        assert_eq!(v["data"]["field"], "kind");
        assert!(v["data"].get("job_id").is_none());
        assert!(matches!(
            serde_json::from_value::<Event>(v).expect("parses"),
            Event::Request(_)
        ));
        assert!(serde_json::from_str::<Event>(r#"{"type":"creel.other"}"#).is_err());
    }

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
