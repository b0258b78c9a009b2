//! The backlog an autoscaler reads: KEDA's `metrics-api` scaler (or any HPA external metric)
//! polls `GET /v1/scaling/{queue}` and scales the queue's workers on `backlog`. The API answers,
//! not a worker, so a queue's workers can scale to zero.

use axum::Json;
use axum::extract::{Extension, Path, State};
use creel_core::config::Scope;
use creel_queue::Backlog;

use crate::{ApiState, Caller, Problem};

/// The backlog of one queue: ready, due (scheduled and their time has come) and running jobs,
/// and their sum. Scheduled jobs not yet due are not counted.
#[utoipa::path(
    get, path = "/v1/scaling/{queue}", tag = "queues",
    params(("queue" = String, Path, description = "the queue")),
    responses((status = 200, body = Backlog),
              (status = 401, description = "no valid bearer token", body = Problem, content_type = "application/problem+json"), (status = 403, description = "the token lacks the scope", body = Problem, content_type = "application/problem+json"), (status = 422, description = "a field is invalid (named in `field`)", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub(crate) async fn backlog(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(queue): Path<String>,
) -> Result<Json<Backlog>, Problem> {
    caller.require(Scope::ScalingRead)?;
    crate::queues::check_name(&queue, "queue")?;
    Ok(Json(state.queue.backlog(&queue).await?))
}
