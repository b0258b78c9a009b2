//! RFC 9457 problem details: every error the API returns is `application/problem+json` with a
//! status, a title, a detail and, for validation errors, the field at fault.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use creel_core::JobRequestError;
use creel_queue::QueueError;
use serde::Serialize;

/// An API error as RFC 9457 problem details.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the problem kind (`about:blank` for plain HTTP errors).
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the kind.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong this time.
    pub detail: String,
    /// The request field at fault, e.g. `payload.url`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl Problem {
    /// A problem with a plain HTTP status.
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            kind: "about:blank".to_owned(),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            field: None,
        }
    }

    /// A 422 naming the field at fault.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        let field = field.into();
        let reason = reason.into();
        Self {
            kind: "https://creel.dev/problems/invalid-request".to_owned(),
            title: "The request is invalid".to_owned(),
            status: 422,
            detail: format!("{field}: {reason}"),
            field: Some(field),
        }
    }
}

impl From<JobRequestError> for Problem {
    fn from(e: JobRequestError) -> Self {
        Self::invalid(e.field, e.reason)
    }
}

impl From<QueueError> for Problem {
    fn from(e: QueueError) -> Self {
        match e {
            QueueError::NotFound(_) => Self::new(StatusCode::NOT_FOUND, e.to_string()),
            QueueError::WrongState { .. } => Self::new(StatusCode::CONFLICT, e.to_string()),
            QueueError::Invalid(inner) => inner.into(),
            other => {
                tracing::error!(error = %other, "queue unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the queue is unavailable; try again",
                )
            }
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut res = (status, axum::Json(self)).into_response();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        res
    }
}
