//! The job envelope producers send: which kind of job, for which vendor account, with which
//! payload, plus an idempotency key and the producer's trace context. Validated before anything
//! reaches Redis.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The queue a job goes to when the request names none.
pub const DEFAULT_QUEUE: &str = "default";

const MAX_NAME_LEN: usize = 64;
const MAX_IDEMPOTENCY_KEY_LEN: usize = 200;

/// A request to run one job. This is the JSON body of `POST /v1/jobs` and of a `creel:requests`
/// stream entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JobRequest {
    /// The job kind, e.g. `download` or `plaso.export`.
    pub kind: String,
    /// The queue to run it on (default [`DEFAULT_QUEUE`]).
    #[serde(default = "default_queue")]
    pub queue: String,
    /// The named vendor account (from config) the job acts for, if the kind needs one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// The kind's own parameters (a JSON object). Never carries secrets.
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    /// A second request with the same key returns the first job instead of a new one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// Run no earlier than this time (RFC 3339). Absent: now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_at: Option<DateTime<Utc>>,
    /// The producer's W3C `traceparent`, stored with the job so its spans join the trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    /// The producer's W3C `tracestate`, kept with `traceparent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracestate: Option<String>,
    /// A URL (from the configured allow-list) that receives the job's completion event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<String>,
    /// The principal that owns the job (an API token's name, the stream intake's principal,
    /// or for a child job its parent's owner). Set by creel, never taken from a caller: the API
    /// and the intake overwrite it. It decides who may see the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Whose namespace the idempotency key lives in. Not part of the JSON body: a request
    /// decoded from JSON is always [`IdempotencyScope::Owner`].
    #[serde(skip)]
    #[schema(ignore)]
    pub idempotency_scope: IdempotencyScope,
}

/// The namespace of an idempotency key. Two owners' keys never meet, and keys creel makes for
/// itself (child deliveries, auto-archive, stream entries) live where no API caller can name
/// them, so a caller cannot pre-claim a key another job will use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum IdempotencyScope {
    /// The key is the owner's (`created_by`): what callers send.
    #[default]
    Owner,
    /// The key is creel's own.
    Internal,
}

impl JobRequest {
    /// The idempotency key as stored, in its namespace: `o:<owner>:<key>` or `i:<key>`.
    /// Owner names cannot hold `:`, so the namespaces cannot overlap.
    #[must_use]
    pub fn idempotency_slot(&self) -> Option<String> {
        let key = self.idempotency_key.as_deref()?;
        Some(match self.idempotency_scope {
            IdempotencyScope::Owner => {
                format!("o:{}:{key}", self.created_by.as_deref().unwrap_or(""))
            }
            IdempotencyScope::Internal => format!("i:{key}"),
        })
    }
}

fn default_queue() -> String {
    DEFAULT_QUEUE.to_owned()
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

/// A field of a [`JobRequest`] is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct JobRequestError {
    /// The field's name as it appears in the JSON body, e.g. `kind` or `payload.url`.
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
}

impl JobRequestError {
    /// An error for one field.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl JobRequestError {
    /// An error for JSON that did not decode, naming the field at fault by its path under
    /// `prefix` (e.g. `payload.resolution` for a type error, `payload.segments[2].name`, or
    /// `payload.url` for a missing or unknown field); `whole`, the name of the document itself,
    /// when the fault is the document (not JSON, not an object).
    #[must_use]
    pub fn from_json(
        err: &serde_path_to_error::Error<serde_json::Error>,
        prefix: Option<&str>,
        whole: &str,
    ) -> Self {
        let msg = err.inner().to_string();
        let named = msg
            .split('`')
            .nth(1)
            .filter(|_| msg.starts_with("missing field") || msg.starts_with("unknown field"));
        let mut field = prefix.map(str::to_owned).unwrap_or_default();
        let mut last = None;
        for segment in err.path().iter() {
            match segment {
                serde_path_to_error::Segment::Seq { index } => {
                    field.push_str(&format!("[{index}]"));
                }
                serde_path_to_error::Segment::Map { key }
                | serde_path_to_error::Segment::Enum { variant: key } => {
                    push_field(&mut field, key);
                    last = Some(key.as_str());
                }
                // Where the parser lost its place (a syntax error) there is no field to name.
                serde_path_to_error::Segment::Unknown => {}
            }
        }
        if let Some(name) = named
            && last != Some(name)
        {
            push_field(&mut field, name);
        }
        if field.is_empty() || field.starts_with('[') {
            // Nothing to name, or an element of a top-level array: the body itself is wrong.
            field.insert_str(0, whole);
        }
        Self::new(field, msg)
    }
}

/// Appends `name` to a dotted field path.
fn push_field(field: &mut String, name: &str) {
    if !field.is_empty() {
        field.push('.');
    }
    field.push_str(name);
}

impl JobRequest {
    /// Parses a request from JSON, naming the field at fault.
    pub fn from_json(body: &[u8]) -> Result<Self, JobRequestError> {
        let de = &mut serde_json::Deserializer::from_slice(body);
        serde_path_to_error::deserialize(de)
            .map_err(|e| JobRequestError::from_json(&e, None, "body"))
    }

    /// A request for `kind` with `payload` on the default queue.
    pub fn new(kind: impl Into<String>, payload: serde_json::Value) -> Self {
        Self {
            kind: kind.into(),
            queue: default_queue(),
            account: None,
            payload,
            idempotency_key: None,
            run_at: None,
            traceparent: None,
            tracestate: None,
            webhook: None,
            created_by: None,
            idempotency_scope: IdempotencyScope::Owner,
        }
    }

    /// Checks the envelope's own fields (the kind's payload is checked by the kind).
    pub fn validate(&self) -> Result<(), JobRequestError> {
        check_name("kind", &self.kind)?;
        check_name("queue", &self.queue)?;
        if let Some(account) = &self.account {
            check_name("account", account)?;
        }
        if !self.payload.is_object() {
            return Err(JobRequestError::new("payload", "must be a JSON object"));
        }
        if let Some(key) = &self.idempotency_key {
            if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_LEN {
                return Err(JobRequestError::new(
                    "idempotency_key",
                    format!("must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} bytes"),
                ));
            }
            if key.chars().any(char::is_control) {
                return Err(JobRequestError::new(
                    "idempotency_key",
                    "must not contain control characters",
                ));
            }
        }
        if let Some(tp) = &self.traceparent
            && !is_traceparent(tp)
        {
            return Err(JobRequestError::new(
                "traceparent",
                "must be a W3C traceparent: 00-<32 hex>-<16 hex>-<2 hex>",
            ));
        }
        if let Some(ts) = &self.tracestate
            && (ts.len() > MAX_TRACESTATE || !ts.bytes().all(|b| (0x20..0x7f).contains(&b)))
        {
            return Err(JobRequestError::new(
                "tracestate",
                format!(
                    "must be a W3C tracestate: printable ASCII, at most {MAX_TRACESTATE} bytes"
                ),
            ));
        }
        if let Some(by) = &self.created_by {
            check_name("created_by", by)?;
        }
        Ok(())
    }
}

/// Checks what the envelope cannot check alone: that the kind exists, its payload is valid, and
/// the account, storage profile and webhook it names are configured. The API, the stream intake
/// and `creel enqueue` all use the same one.
pub trait RequestValidator: Send + Sync {
    /// `Ok` if the request may be enqueued; otherwise the first bad field and why.
    fn validate(&self, request: &JobRequest) -> Result<(), JobRequestError>;
}

/// Names (kinds, queues, accounts) are 1–64 characters of `[a-z0-9._-]`, so they are safe in
/// Redis keys, metric labels and URLs.
pub(crate) fn check_name(field: &str, value: &str) -> Result<(), JobRequestError> {
    let ok_char =
        |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-');
    if value.is_empty() || value.len() > MAX_NAME_LEN || !value.chars().all(ok_char) {
        return Err(JobRequestError::new(
            field,
            format!(
                "must be 1 to {MAX_NAME_LEN} characters of a-z, 0-9, '.', '_' or '-' (got {value:?})"
            ),
        ));
    }
    Ok(())
}

/// The longest `tracestate` kept (32 members of 16 bytes, with room).
const MAX_TRACESTATE: usize = 512;

fn is_traceparent(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let hex = |p: &str, n: usize| {
        p.len() == n
            && p.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    };
    parts.len() == 4
        && hex(parts[0], 2)
        && parts[0] != "ff"
        && hex(parts[1], 32)
        && parts[1].chars().any(|c| c != '0')
        && hex(parts[2], 16)
        && parts[2].chars().any(|c| c != '0')
        && hex(parts[3], 2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_minimal_request_parses_with_defaults() {
        let r: JobRequest = serde_json::from_value(json!({"kind": "download"})).expect("parses");
        assert_eq!(r.queue, DEFAULT_QUEUE);
        assert!(r.payload.is_object());
        r.validate().expect("valid");
    }

    #[test]
    fn json_errors_name_the_field() {
        assert_eq!(
            JobRequest::from_json(br#"{"payload": {}}"#)
                .expect_err("missing")
                .field,
            "kind"
        );
        assert_eq!(
            JobRequest::from_json(br#"{"kind": "x", "nope": 1}"#)
                .expect_err("unknown")
                .field,
            "nope"
        );
        assert_eq!(
            JobRequest::from_json(b"{oops").expect_err("syntax").field,
            "body"
        );
        // serde reads a struct from an array too: its elements are not fields.
        assert_eq!(
            JobRequest::from_json(b"[null]").expect_err("array").field,
            "body[0]"
        );
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let err = serde_json::from_value::<JobRequest>(json!({"kind": "x", "secret": "k"}))
            .expect_err("unknown field");
        assert!(err.to_string().contains("secret"));
    }

    #[test]
    fn each_bad_field_is_named() {
        let bad = |f: &dyn Fn(&mut JobRequest)| {
            let mut r = JobRequest::new("download", json!({}));
            f(&mut r);
            r.validate().expect_err("invalid").field
        };
        assert_eq!(bad(&|r| r.kind = "Bad Kind".into()), "kind");
        assert_eq!(bad(&|r| r.queue = String::new()), "queue");
        assert_eq!(bad(&|r| r.account = Some("a:b".into())), "account");
        assert_eq!(bad(&|r| r.payload = json!([1])), "payload");
        assert_eq!(
            bad(&|r| r.idempotency_key = Some(String::new())),
            "idempotency_key"
        );
        assert_eq!(
            bad(&|r| r.traceparent = Some("00-xyz".into())),
            "traceparent"
        );
    }

    #[test]
    fn w3c_traceparent_is_accepted() {
        let mut r = JobRequest::new("download", json!({}));
        r.traceparent = Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into());
        r.validate().expect("valid traceparent");
    }
}
