//! A worker's probe endpoints for Kubernetes on `worker.health_listen`: `GET /livez` (200 while
//! every heartbeat loop turns, Redis reachable or not, so a Redis outage restarts no pod) and
//! `GET /readyz` (200 once every loop's last heartbeat reached Redis), 503 otherwise.

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use creel_queue::WorkerHealth;

/// The probe routes over `health`.
pub fn router(health: WorkerHealth) -> Router {
    let ready = health.clone();
    Router::new()
        .route("/livez", get(move || answer(health.live())))
        .route("/readyz", get(move || answer(ready.ready())))
}

async fn answer(ok: bool) -> StatusCode {
    if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}
