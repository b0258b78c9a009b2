//! Plaso's result callback. Plaso does not sign it, so the account's callback URL carries an
//! unguessable token; the body is only a hint, confirmed with a signed `getVideoTask` before
//! creel acts on it. The answer Plaso expects is [`ACK`].

use subtle::ConstantTimeEq;

use super::model::{Callback, TaskStatus};

/// The body Plaso expects back.
pub const ACK: &str = r#"{"code":0,"message":""}"#;

/// Whether the token in the callback URL is the account's (constant-time).
#[must_use]
pub fn token_matches(expected: &str, given: &str) -> bool {
    expected.len() == given.len() && bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
}

/// A callback body that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("plaso callback: {0}")]
pub struct BadCallback(pub String);

/// The longest `taskId` accepted (Plaso's are short hex strings).
pub const MAX_TASK_ID_LEN: usize = 128;
/// The longest `location` accepted.
pub const MAX_LOCATION_LEN: usize = 4096;

/// Reads a callback body, JSON or form-encoded (the document does not say which). Only the
/// documented statuses are accepted, and the fields are bounded: a callback is unsigned, so
/// it must not be able to store much or wake a job with made-up states.
pub fn parse(body: &[u8]) -> Result<Callback, BadCallback> {
    let trimmed = body.iter().find(|b| !b.is_ascii_whitespace());
    let callback: Callback = if trimmed == Some(&b'{') {
        serde_json::from_slice(body).map_err(|e| BadCallback(e.to_string()))?
    } else {
        let fields: serde_json::Map<String, serde_json::Value> = url::form_urlencoded::parse(body)
            .map(|(k, v)| (k.into_owned(), serde_json::Value::String(v.into_owned())))
            .collect();
        serde_json::from_value(serde_json::Value::Object(fields))
            .map_err(|e| BadCallback(e.to_string()))?
    };
    if let TaskStatus::Unknown(code) = callback.status {
        return Err(BadCallback(format!(
            "status {code} is not a documented status"
        )));
    }
    let id = &callback.task_id;
    if id.is_empty() || id.len() > MAX_TASK_ID_LEN || !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(BadCallback(format!(
            "taskId must be 1 to {MAX_TASK_ID_LEN} printable ASCII characters"
        )));
    }
    if callback
        .location
        .as_ref()
        .is_some_and(|l| l.len() > MAX_LOCATION_LEN)
    {
        return Err(BadCallback(format!(
            "location is longer than {MAX_LOCATION_LEN} bytes"
        )));
    }
    Ok(callback)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_form_bodies_parse() {
        let c = parse(br#"{"taskId":"t9","status":"-1","location":""}"#).expect("json");
        assert_eq!(c.status, TaskStatus::TranscodeFailed);
        let c = parse(b"taskId=t9&status=99&location=https%3A%2F%2Fo%2Fv.mp4").expect("form");
        assert_eq!(c.location.as_deref(), Some("https://o/v.mp4"));
        assert!(
            parse(b"status=99")
                .expect_err("no task id")
                .0
                .contains("taskId")
        );
    }

    #[test]
    fn undocumented_statuses_and_oversized_fields_are_refused() {
        assert!(parse(br#"{"taskId":"t9","status":"12345"}"#).is_err());
        let long = format!(
            r#"{{"taskId":"{}","status":"1"}}"#,
            "a".repeat(MAX_TASK_ID_LEN + 1)
        );
        assert!(parse(long.as_bytes()).is_err());
        assert!(parse(br#"{"taskId":"t 9","status":"1"}"#).is_err());
        for code in [0, 1, 2, 3, 99, -1, -2, -3] {
            let body = format!(r#"{{"taskId":"t9","status":"{code}"}}"#);
            assert!(parse(body.as_bytes()).is_ok(), "{code}");
        }
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(token_matches("abc", "abc"));
        assert!(!token_matches("abc", "abd"));
        assert!(!token_matches("abc", "ab"));
    }
}
