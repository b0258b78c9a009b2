//! The WeClassroom client: every request is a POST of exactly `applicationID` and `signMsg`
//! (the parameters travel encrypted inside it); answers are `{status, error_code, msg, data}`
//! with 10000 for success.

use std::sync::Arc;
use tracing::Instrument;

use creel_core::CallLimiter;
use creel_core::config::{Vendor, VendorAccount};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::model::{ClassInfo, LessonReplayStatus, ReplayUrl, ServerRecording, recordings};
use super::php::PhpValue;
use super::sign::{SignKey, random_iv, sign_msg};
use crate::endpoint::Endpoint;
use crate::error::{Classification, VendorError, body_prefix};
use crate::transport::Transport;

/// WeClassroom's production base URL (test: `http://test-openapi.weclassroom.com`).
pub const DEFAULT_BASE_URL: &str = "https://openapi.weclassroom.com";

/// API 18: lesson status and monitoring replay of up to many lessons.
pub const LESSON_STATUS: Endpoint = Endpoint {
    name: "lesson_status",
    path: "/lesson/get_lesson_status",
    documented: true,
    summary: "API 18: lesson status and replay address (lesson_id: array of ids)",
};
/// API 17: the lessons in a time range, with their state and actual times.
pub const CLASS_INFO: Endpoint = Endpoint {
    name: "class_info",
    path: "/lesson/get_class_info",
    documented: true,
    summary: "API 17: lessons of a time range (start_time, end_time: YYYY-mm-dd HH:ii:ss) with state and actual times",
};
/// API 21: server recordings of one user in a lesson.
pub const SERVER_RECORDINGS: Endpoint = Endpoint {
    name: "server_recordings",
    path: "/lesson/service/record",
    documented: true,
    summary: "API 21: server-recorded videos of a teacher or student in a lesson",
};
/// API 24: a lesson's replay URL.
pub const REPLAY_URL: Endpoint = Endpoint {
    name: "replay_url",
    path: "/lesson/replay/url",
    documented: true,
    summary: "API 24: the replay MP4 of a lesson (lessonId as a string)",
};

/// Every WeClassroom endpoint creel calls.
pub const ENDPOINTS: [Endpoint; 4] = [LESSON_STATUS, CLASS_INFO, SERVER_RECORDINGS, REPLAY_URL];

/// Success.
pub const CODE_OK: i64 = 10000;

/// The class of a WeClassroom `error_code` (table 4 of the document).
#[must_use]
pub fn classify_code(code: i64) -> Classification {
    match code {
        CODE_OK => Classification::Success,
        // Server error.
        50000 => Classification::Retryable,
        // 20001–20005 credentials, 30001–30002 routing, 40001–40004 parameters, and anything
        // undocumented.
        _ => Classification::Permanent,
    }
}

/// A client for one WeClassroom account.
#[derive(Debug, Clone)]
pub struct WeclassroomClient {
    transport: Transport,
    application_id: String,
    key: SignKey,
}

impl WeclassroomClient {
    /// A client for the account named `name`; its secret must be exactly 32 bytes.
    pub fn new(
        name: &str,
        account: &VendorAccount,
        http: reqwest::Client,
        limiter: Arc<dyn CallLimiter>,
    ) -> Result<Self, VendorError> {
        let key = SignKey::new(account.secret.expose()).map_err(|e| VendorError::Config {
            vendor: Vendor::Weclassroom,
            reason: format!("accounts.{name}.secret: {e}"),
        })?;
        Ok(Self {
            transport: Transport::new(
                name,
                account,
                Some(DEFAULT_BASE_URL),
                &ENDPOINTS,
                http,
                limiter,
            )?,
            application_id: account.id.clone(),
            key,
        })
    }

    /// API 18 for the given lessons.
    pub async fn lesson_status(
        &self,
        lesson_ids: &[i64],
    ) -> Result<Vec<LessonReplayStatus>, VendorError> {
        let ids = PhpValue::list(lesson_ids.iter().map(|i| PhpValue::Int(*i)).collect());
        let answer = self
            .call(&LESSON_STATUS, vec![("lesson_id".into(), ids)])
            .await?;
        self.data(&LESSON_STATUS, answer)
    }

    /// API 17: the lessons between `start_time` and `end_time` (`YYYY-mm-dd HH:ii:ss`, the
    /// vendor's local time).
    pub async fn class_info(
        &self,
        start_time: &str,
        end_time: &str,
    ) -> Result<Vec<ClassInfo>, VendorError> {
        let answer = self
            .call(
                &CLASS_INFO,
                vec![
                    ("start_time".into(), PhpValue::Str(start_time.to_owned())),
                    ("end_time".into(), PhpValue::Str(end_time.to_owned())),
                ],
            )
            .await?;
        self.data(&CLASS_INFO, answer)
    }

    /// API 21: recordings of `user_id` in `lesson_id`.
    pub async fn server_recordings(
        &self,
        lesson_id: i64,
        user_id: i64,
    ) -> Result<Vec<ServerRecording>, VendorError> {
        let answer = self
            .call(
                &SERVER_RECORDINGS,
                vec![
                    ("lesson_id".into(), PhpValue::Int(lesson_id)),
                    ("user_id".into(), PhpValue::Int(user_id)),
                ],
            )
            .await?;
        Ok(recordings(&answer))
    }

    /// API 24: the replay URL of a lesson.
    pub async fn replay_url(&self, lesson_id: i64) -> Result<ReplayUrl, VendorError> {
        let answer = self
            .call(
                &REPLAY_URL,
                vec![("lessonId".into(), PhpValue::Str(lesson_id.to_string()))],
            )
            .await?;
        self.data(&REPLAY_URL, answer)
    }

    /// One call with `params` sealed in `signMsg`; the whole answer on success.
    pub async fn call(
        &self,
        endpoint: &Endpoint,
        params: Vec<(String, PhpValue)>,
    ) -> Result<Value, VendorError> {
        let span = self.transport.span("POST", endpoint);
        self.call_in_span(endpoint, params).instrument(span).await
    }

    /// [`Self::call`]'s work, inside its span.
    async fn call_in_span(
        &self,
        endpoint: &Endpoint,
        params: Vec<(String, PhpValue)>,
    ) -> Result<Value, VendorError> {
        let iv = random_iv().map_err(|e| VendorError::Config {
            vendor: Vendor::Weclassroom,
            reason: format!("no randomness for the signMsg iv: {e}"),
        })?;
        let signed = sign_msg(&params, &self.key, iv);
        let request = self
            .transport
            .http()
            .post(self.transport.url(endpoint))
            .form(&[
                ("applicationID", self.application_id.as_str()),
                ("signMsg", signed.sign_msg.as_str()),
            ]);
        let body = self.transport.send(endpoint.name, request).await?;
        let answer: Value = self.transport.decode(endpoint.name, &body)?;
        // API 34 says `code` where the others say `error_code`; a bare `status: 1` is success.
        let code = answer
            .get("error_code")
            .or_else(|| answer.get("code"))
            .and_then(Value::as_i64);
        let code = match (code, answer.get("status").and_then(Value::as_i64)) {
            (Some(c), _) => c,
            (None, Some(1)) => CODE_OK,
            (None, _) => {
                return Err(VendorError::Undecodable {
                    vendor: Vendor::Weclassroom,
                    endpoint: endpoint.name,
                    reason: "no error_code and no status 1".into(),
                    body: body_prefix(&body),
                });
            }
        };
        let message = answer
            .get("msg")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        self.transport
            .judge(endpoint.name, code, message, classify_code)
            .await?;
        Ok(answer)
    }

    fn data<T: DeserializeOwned>(
        &self,
        endpoint: &Endpoint,
        answer: Value,
    ) -> Result<T, VendorError> {
        let data = answer.get("data").cloned().unwrap_or(Value::Null);
        self.transport.decode_value(endpoint.name, data)
    }
}
