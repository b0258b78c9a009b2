//! The queues API: counts per state, the age of the oldest ready job, pause and resume.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use creel_queue::QueueCounts;

use crate::{ApiState, Problem};

/// Every queue with its counts per state.
#[utoipa::path(
    get, path = "/v1/queues", tag = "queues",
    responses((status = 200, body = [QueueCounts])),
    security(("bearer" = []))
)]
pub(crate) async fn list(State(state): State<ApiState>) -> Result<Json<Vec<QueueCounts>>, Problem> {
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
    responses((status = 204, description = "paused")),
    security(("bearer" = []))
)]
pub(crate) async fn pause(
    State(state): State<ApiState>,
    Path(name): Path<String>,
) -> Result<StatusCode, Problem> {
    check_name(&name)?;
    state.queue.pause(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Lets workers take jobs of a queue again.
#[utoipa::path(
    post, path = "/v1/queues/{name}/resume", tag = "queues",
    params(("name" = String, Path, description = "the queue")),
    responses((status = 204, description = "resumed")),
    security(("bearer" = []))
)]
pub(crate) async fn resume(
    State(state): State<ApiState>,
    Path(name): Path<String>,
) -> Result<StatusCode, Problem> {
    check_name(&name)?;
    state.queue.resume(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn check_name(name: &str) -> Result<(), Problem> {
    let mut probe = creel_core::JobRequest::new("x", serde_json::json!({}));
    probe.queue = name.to_owned();
    probe
        .validate()
        .map_err(|e| Problem::invalid("name", e.reason))
}
