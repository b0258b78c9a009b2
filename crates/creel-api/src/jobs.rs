//! The jobs API: enqueue (idempotent), read, list, cancel, retry.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use creel_core::config::Scope;
use creel_core::{IdempotencyScope, JobId, JobRequest, JobState};
use creel_queue::{CancelOutcome, JobRecord, Page};
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::{ApiState, Problem};

/// Enqueues a job owned by the caller. A repeated `Idempotency-Key` (header or body field) of
/// the same caller answers 200 with the job the key first created; keys of different callers
/// never meet.
#[utoipa::path(
    post, path = "/v1/jobs", tag = "jobs",
    request_body = JobRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "dedupe key; the same key returns the first job"),
           ("traceparent" = Option<String>, Header, description = "W3C trace context: the parent of the job's send span"),
           ("tracestate" = Option<String>, Header, description = "W3C tracestate, kept with traceparent")),
    responses((status = 201, description = "created", body = JobRecord),
              (status = 200, description = "an existing job for this idempotency key", body = JobRecord),
              (status = 401, description = "no valid bearer token", body = Problem, content_type = "application/problem+json"), (status = 403, description = "the token lacks the scope", body = Problem, content_type = "application/problem+json"), (status = 413, description = "the body is too large", body = Problem, content_type = "application/problem+json"), (status = 422, description = "a field is invalid (named in `field`)", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub(crate) async fn create(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    caller.require(Scope::JobsWrite)?;
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
        // The request's server span (which continues the header's context) is the parent of
        // the job's `send` span; without an OTel layer the header itself is kept.
        let context = creel_queue::trace::StoredContext {
            traceparent: header("traceparent"),
            tracestate: header("tracestate"),
        }
        .current_or();
        request.traceparent = context.traceparent;
        request.tracestate = context.tracestate;
    }
    request.created_by = Some(caller.name.clone());
    request.idempotency_scope = IdempotencyScope::Owner;
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
    Ok((status, Json(record.redacted())).into_response())
}

fn parse_id(id: &str) -> Result<JobId, Problem> {
    id.parse()
        .map_err(|e: creel_core::JobIdError| Problem::invalid("id", e.to_string()))
}

/// One job's record.
#[utoipa::path(
    get, path = "/v1/jobs/{id}", tag = "jobs",
    params(("id" = String, Path, description = "the job id")),
    responses((status = 200, body = JobRecord),
              (status = 401, description = "no valid bearer token", body = Problem, content_type = "application/problem+json"), (status = 403, description = "the token lacks the scope", body = Problem, content_type = "application/problem+json"), (status = 404, description = "no such job (or another principal's)", body = Problem, content_type = "application/problem+json"), (status = 422, description = "a field is invalid (named in `field`)", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub(crate) async fn get(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<JobRecord>, Problem> {
    caller.require(Scope::JobsRead)?;
    let id = parse_id(&id)?;
    own_job(&state, &caller, &id)
        .await
        .map(|r| Json(r.redacted()))
}

/// The job `id` if the caller may see it. Another principal's job answers 404 exactly like a
/// missing one, so job ids of other tenants cannot be probed.
async fn own_job(state: &ApiState, caller: &Caller, id: &JobId) -> Result<JobRecord, Problem> {
    state
        .queue
        .get(id)
        .await?
        .filter(|rec| caller.owns(rec))
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

/// Lists the caller's jobs of a queue in one state, oldest first, a page at a time (every
/// principal's with `admin`). Pages are cut before the filter, so one may hold fewer than
/// `limit` jobs; follow `next_cursor` to the end.
#[utoipa::path(
    get, path = "/v1/jobs", tag = "jobs", params(ListQuery),
    responses((status = 200, body = Page),
              (status = 401, description = "no valid bearer token", body = Problem, content_type = "application/problem+json"), (status = 403, description = "the token lacks the scope", body = Problem, content_type = "application/problem+json"), (status = 422, description = "a field is invalid (named in `field`)", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub(crate) async fn list(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Page>, Problem> {
    caller.require(Scope::JobsRead)?;
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
    page.jobs.retain(|j| caller.owns(j));
    if let Some(kind) = q.kind {
        page.jobs.retain(|j| j.kind == kind);
    }
    page.jobs = page.jobs.into_iter().map(JobRecord::redacted).collect();
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
    responses((status = 200, body = CancelResponse),
              (status = 401, description = "no valid bearer token", body = Problem, content_type = "application/problem+json"), (status = 403, description = "the token lacks the scope", body = Problem, content_type = "application/problem+json"), (status = 404, description = "no such job (or another principal's)", body = Problem, content_type = "application/problem+json"), (status = 409, description = "not possible in the job's state", body = Problem, content_type = "application/problem+json"), (status = 422, description = "a field is invalid (named in `field`)", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub(crate) async fn cancel(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<CancelResponse>, Problem> {
    caller.require(Scope::JobsCancel)?;
    let id = parse_id(&id)?;
    own_job(&state, &caller, &id).await?;
    let outcome = state.queue.cancel(&id).await?;
    Ok(Json(CancelResponse { outcome }))
}

/// Runs a failed (dead) or cancelled job again.
#[utoipa::path(
    post, path = "/v1/jobs/{id}/retry", tag = "jobs",
    params(("id" = String, Path, description = "the job id")),
    responses((status = 200, body = JobRecord),
              (status = 401, description = "no valid bearer token", body = Problem, content_type = "application/problem+json"), (status = 403, description = "the token lacks the scope", body = Problem, content_type = "application/problem+json"), (status = 404, description = "no such job (or another principal's)", body = Problem, content_type = "application/problem+json"), (status = 409, description = "not possible in the job's state", body = Problem, content_type = "application/problem+json"), (status = 422, description = "a field is invalid (named in `field`)", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub(crate) async fn retry(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<JobRecord>, Problem> {
    caller.require(Scope::JobsWrite)?;
    let id = parse_id(&id)?;
    own_job(&state, &caller, &id).await?;
    state.queue.requeue(&id).await?;
    own_job(&state, &caller, &id)
        .await
        .map(|r| Json(r.redacted()))
}
