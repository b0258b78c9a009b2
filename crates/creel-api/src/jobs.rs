//! The jobs API: enqueue (idempotent), read, list, cancel, retry.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use creel_core::{JobId, JobRequest, JobState};
use creel_queue::{CancelOutcome, JobRecord, Page};
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::{ApiState, Problem};

/// Enqueues a job. A repeated `Idempotency-Key` (header or body field) answers 200 with the
/// job the key first created.
#[utoipa::path(
    post, path = "/v1/jobs", tag = "jobs",
    request_body = JobRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "dedupe key; the same key returns the first job"),
           ("traceparent" = Option<String>, Header, description = "W3C trace context stored with the job")),
    responses((status = 201, description = "created", body = JobRecord),
              (status = 200, description = "an existing job for this idempotency key", body = JobRecord),
              (status = 401, body = Problem), (status = 413, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = []))
)]
pub(crate) async fn create(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let body = body.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the body is larger than the {} bytes allowed",
                state.max_body_bytes
            ),
        ),
        s => Problem::new(s, e.body_text()),
    })?;
    let mut request = JobRequest::from_json(&body)?;
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    if let Some(key) = header("idempotency-key") {
        match &request.idempotency_key {
            Some(k) if *k != key => {
                return Err(Problem::invalid(
                    "idempotency_key",
                    "differs from the Idempotency-Key header",
                ));
            }
            _ => request.idempotency_key = Some(key),
        }
    }
    if request.traceparent.is_none() {
        request.traceparent = header("traceparent");
    }
    request.created_by = Some(caller.0);
    state.validator.validate(&request)?;
    let enqueued = state.queue.enqueue(request).await?;
    let record = state.queue.get(&enqueued.id).await?.ok_or_else(|| {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the job vanished right after it was enqueued",
        )
    })?;
    let status = if enqueued.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(record)).into_response())
}

fn parse_id(id: &str) -> Result<JobId, Problem> {
    id.parse()
        .map_err(|e: creel_core::JobIdError| Problem::invalid("id", e.to_string()))
}

/// One job's record.
#[utoipa::path(
    get, path = "/v1/jobs/{id}", tag = "jobs",
    params(("id" = String, Path, description = "the job id")),
    responses((status = 200, body = JobRecord), (status = 404, body = Problem)),
    security(("bearer" = []))
)]
pub(crate) async fn get(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<JobRecord>, Problem> {
    let id = parse_id(&id)?;
    let rec = state.queue.get(&id).await?;
    rec.map(Json)
        .ok_or_else(|| Problem::new(StatusCode::NOT_FOUND, format!("no job {id}")))
}

/// Query of a listing.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    /// The state to list.
    state: Option<String>,
    /// The queue (default `default`).
    queue: Option<String>,
    /// Only jobs of this kind (filters each page).
    kind: Option<String>,
    /// From `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Page size, 1–1000 (default 50).
    limit: Option<usize>,
}

/// Lists jobs of a queue in one state, oldest first, a page at a time.
#[utoipa::path(
    get, path = "/v1/jobs", tag = "jobs", params(ListQuery),
    responses((status = 200, body = Page), (status = 422, body = Problem)),
    security(("bearer" = []))
)]
pub(crate) async fn list(
    State(state): State<ApiState>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Page>, Problem> {
    let job_state: JobState = q
        .state
        .as_deref()
        .ok_or_else(|| Problem::invalid("state", "is required"))?
        .parse()
        .map_err(|e: creel_core::state::UnknownState| Problem::invalid("state", e.to_string()))?;
    let queue = q
        .queue
        .unwrap_or_else(|| creel_core::DEFAULT_QUEUE.to_owned());
    let mut page = state
        .queue
        .list(
            &queue,
            job_state,
            q.cursor.as_deref(),
            q.limit.unwrap_or(50),
        )
        .await?;
    if let Some(kind) = q.kind {
        page.jobs.retain(|j| j.kind == kind);
    }
    Ok(Json(page))
}

/// What a cancel did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct CancelResponse {
    /// `cancelled` (it was not running) or `requested` (it stops at its next step boundary).
    outcome: CancelOutcome,
}

/// Cancels a job.
#[utoipa::path(
    post, path = "/v1/jobs/{id}/cancel", tag = "jobs",
    params(("id" = String, Path, description = "the job id")),
    responses((status = 200, body = CancelResponse), (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = []))
)]
pub(crate) async fn cancel(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<CancelResponse>, Problem> {
    let id = parse_id(&id)?;
    let outcome = state.queue.cancel(&id).await?;
    Ok(Json(CancelResponse { outcome }))
}

/// Runs a failed (dead) or cancelled job again.
#[utoipa::path(
    post, path = "/v1/jobs/{id}/retry", tag = "jobs",
    params(("id" = String, Path, description = "the job id")),
    responses((status = 200, body = JobRecord), (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = []))
)]
pub(crate) async fn retry(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<JobRecord>, Problem> {
    let id = parse_id(&id)?;
    state.queue.requeue(&id).await?;
    get(State(state), Path(id.to_string())).await
}
