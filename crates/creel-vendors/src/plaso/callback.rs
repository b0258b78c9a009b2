//! Plaso's result callback. Plaso does not sign it, so the account's callback URL carries an
//! unguessable token; the body is only a hint, confirmed with a signed `getVideoTask` before
//! creel acts on it. The answer Plaso expects is [`ACK`].

use subtle::ConstantTimeEq;

use super::model::Callback;

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

/// Reads a callback body, JSON or form-encoded (the document does not say which).
pub fn parse(body: &[u8]) -> Result<Callback, BadCallback> {
    let trimmed = body.iter().find(|b| !b.is_ascii_whitespace());
    if trimmed == Some(&b'{') {
        return serde_json::from_slice(body).map_err(|e| BadCallback(e.to_string()));
    }
    let fields: serde_json::Map<String, serde_json::Value> = url::form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), serde_json::Value::String(v.into_owned())))
        .collect();
    serde_json::from_value(serde_json::Value::Object(fields))
        .map_err(|e| BadCallback(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plaso::model::TaskStatus;

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
    fn tokens_compare_whole() {
        assert!(token_matches("abc", "abc"));
        assert!(!token_matches("abc", "abd"));
        assert!(!token_matches("abc", "ab"));
    }
}
