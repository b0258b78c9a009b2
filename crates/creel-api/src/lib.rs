//! creel's HTTP API: jobs (`/v1/jobs`), queues (`/v1/queues`), the scaler's backlog
//! (`/v1/scaling/{queue}`), vendor accounts' usage (`/v1/accounts/{account}/usage`), health (`/livez`, `/readyz`) and
//! the OpenAPI 3.1 document (`/openapi.json`), generated from the handlers. Every route but
//! health and the document needs a bearer token whose scopes allow it, and a principal sees
//! only its own jobs unless it has `admin`; every error is RFC 9457 problem+json. The vendor
//! callback routes ([`callback_routes`]) are served beside them, outside bearer auth: each
//! vendor's own proof is checked instead.

mod accounts;
mod auth;
mod callbacks;
mod jobs;
mod problem;
mod queues;
mod scaling;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router, middleware};
use creel_core::RequestValidator;
use creel_queue::Queue;
use utoipa::OpenApi;

pub use auth::{Caller, Tokens};
pub use callbacks::{CallbackState, callback_routes};
pub use problem::Problem;

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    /// The queue.
    pub queue: Queue,
    /// Checks requests before they are enqueued.
    pub validator: Arc<dyn RequestValidator>,
    /// Accepted bearer tokens and the principals they name.
    pub tokens: Tokens,
    /// Largest accepted body, in bytes.
    pub max_body_bytes: usize,
    /// The configured vendor accounts' names (the usage route answers for these only).
    pub accounts: Arc<std::collections::BTreeSet<String>>,
    /// Prices, the usage calendar and budgets.
    pub costs: Arc<creel_core::config::CostsConfig>,
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState")
            .field("tokens", &self.tokens.len())
            .finish_non_exhaustive()
    }
}

/// The OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(title = "creel", description = "Classroom-video job orchestration: enqueue and follow jobs."),
    paths(jobs::create, jobs::get, jobs::list, jobs::cancel, jobs::retry, queues::list, queues::pause, queues::resume, scaling::backlog, accounts::usage),
    components(schemas(Problem, creel_core::JobRequest, creel_queue::JobRecord, creel_queue::Page, creel_queue::QueueCounts, creel_queue::Backlog, creel_queue::AccountUsage, creel_queue::Usage, creel_core::config::Budget, creel_core::config::OnExceed)),
    modifiers(&BearerAuth),
    tags((name = "jobs"), (name = "queues"), (name = "accounts"))
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The API router.
pub fn router(state: ApiState) -> Router {
    let authed = Router::new()
        .route("/v1/jobs", post(jobs::create).get(jobs::list))
        .route("/v1/jobs/{id}", get(jobs::get))
        .route("/v1/jobs/{id}/cancel", post(jobs::cancel))
        .route("/v1/jobs/{id}/retry", post(jobs::retry))
        .route("/v1/queues", get(queues::list))
        .route("/v1/queues/{name}/pause", post(queues::pause))
        .route("/v1/queues/{name}/resume", post(queues::resume))
        .route("/v1/scaling/{queue}", get(scaling::backlog))
        .route("/v1/accounts/{account}/usage", get(accounts::usage))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ));
    Router::new()
        .merge(authed)
        .route("/livez", get(|| async { StatusCode::OK }))
        .route("/readyz", get(readyz))
        .route("/openapi.json", get(|| async { Json(ApiDoc::openapi()) }))
        .layer(DefaultBodyLimit::max(state.max_body_bytes))
        .with_state(state)
}

async fn readyz(State(state): State<ApiState>) -> Result<StatusCode, Problem> {
    state
        .queue
        .ping()
        .await
        .map(|()| StatusCode::OK)
        .map_err(|e| Problem::new(StatusCode::SERVICE_UNAVAILABLE, format!("redis: {e}")))
}
