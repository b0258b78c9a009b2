//! The queues API: counts per state, the age of the oldest ready job, pause and resume.

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use creel_core::config::Scope;
use creel_queue::QueueCounts;

use crate::Caller;

use crate::{ApiState, Problem};

/// Every queue with its counts per state.
#[utoipa::path(
    get, path = "/v1/queues", tag = "queues",
    responses((status = 200, body = [QueueCounts]),
              (status = 401, description = "no valid bearer token", body = Problem, content_type = "application/problem+json"), (status = 403, description = "the token lacks the scope", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub(crate) async fn list(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Vec<QueueCounts>>, Problem> {
    caller.require(Scope::QueuesAdmin)?;
    let mut out = Vec::new();
    for name in state.queue.queues().await? {
        out.push(state.queue.counts(&name).await?);
    }
    Ok(Json(out))
}

/// Stops workers from starting jobs of a queue.
#[utoipa::path(
    post, path = "/v1/queues/{name}/pause", tag = "queues",
    params(("name" = String, Path, description = "the queue")),
    responses((status = 204, description = "paused"),
              (status = 401, description = "no valid bearer token", body = Problem, content_type = "application/problem+json"), (status = 403, description = "the token lacks the scope", body = Problem, content_type = "application/problem+json"), (status = 422, description = "a field is invalid (named in `field`)", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub(crate) async fn pause(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<StatusCode, Problem> {
    caller.require(Scope::QueuesAdmin)?;
    check_name(&name, "name")?;
    state.queue.pause(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Lets workers take jobs of a queue again.
#[utoipa::path(
    post, path = "/v1/queues/{name}/resume", tag = "queues",
    params(("name" = String, Path, description = "the queue")),
    responses((status = 204, description = "resumed"),
              (status = 401, description = "no valid bearer token", body = Problem, content_type = "application/problem+json"), (status = 403, description = "the token lacks the scope", body = Problem, content_type = "application/problem+json"), (status = 422, description = "a field is invalid (named in `field`)", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub(crate) async fn resume(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<StatusCode, Problem> {
    caller.require(Scope::QueuesAdmin)?;
    check_name(&name, "name")?;
    state.queue.resume(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Checks a queue name from a path; a bad one is a 422 naming `field`.
pub(crate) fn check_name(name: &str, field: &str) -> Result<(), Problem> {
    let mut probe = creel_core::JobRequest::new("x", serde_json::json!({}));
    probe.queue = name.to_owned();
    probe
        .validate()
        .map_err(|e| Problem::invalid(field, e.reason))
}
