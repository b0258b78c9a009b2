//! The inspection API under `/_sim/` (request log, per-window maximums, tasks, submissions,
//! callbacks, faults, seeding, reset) and the video files under `/files/`.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use creel_core::config::Vendor;
use serde::Deserialize;
use serde_json::json;

use crate::plaso::PlasoOutcome;
use crate::{Fault, Simulator, files};

pub(crate) fn routes() -> Router<Simulator> {
    Router::new()
        .route("/files/{name}", get(file))
        .route("/_sim/requests", get(requests))
        .route("/_sim/window_max", get(window_max))
        .route("/_sim/tasks", get(tasks))
        .route("/_sim/submissions", get(submissions))
        .route("/_sim/callbacks", get(callbacks))
        .route("/_sim/callbacks/drop", post(drop_callbacks))
        .route("/_sim/faults", post(arm_fault).delete(clear_faults))
        .route("/_sim/reset", post(reset))
        .route("/_sim/plaso/records", post(add_plaso_record))
        .route("/_sim/weclassroom/lessons", post(add_lesson))
        .merge(crate::baijiayun::seed_routes())
}

async fn file(
    State(sim): State<Simulator>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let id = name.trim_end_matches(".mp4");
    let (Some(t), Some(sign)) = (q.get("t"), q.get("sign")) else {
        return (StatusCode::FORBIDDEN, "unsigned URL").into_response();
    };
    let (file, fault) = {
        let mut world = sim.world();
        let fault = world.faults.take("files", &format!("/files/{name}"));
        (world.files.get(id).cloned(), fault)
    };
    let outcome;
    let response = match file {
        _ if matches!(fault, Some(crate::FaultKind::Status { .. })) => {
            let status = match fault {
                Some(crate::FaultKind::Status { status }) => status,
                _ => 500,
            };
            outcome = "fault";
            (
                StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                "simulated failure",
            )
                .into_response()
        }
        _ if files::url_sign(id, t, sim.url_secret()) != *sign => {
            outcome = "bad_sign";
            (StatusCode::FORBIDDEN, "bad URL signature").into_response()
        }
        _ if u64::from_str_radix(t, 16).map_or(true, |exp| exp < sim.clock().unix_secs()) => {
            outcome = "expired";
            (StatusCode::FORBIDDEN, "URL expired").into_response()
        }
        None => {
            outcome = "404";
            (StatusCode::NOT_FOUND, "no such file").into_response()
        }
        Some(f) => {
            outcome = "ok";
            files::serve(&f, &headers)
        }
    };
    let range = headers
        .get("range")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    sim.log_request(
        "files",
        None,
        &format!("/files/{name}"),
        json!({"range": range}),
        outcome.into(),
    );
    response
}

async fn requests(State(sim): State<Simulator>) -> Response {
    Json(sim.requests()).into_response()
}

#[derive(Deserialize)]
struct WindowQuery {
    vendor: Vendor,
    account: String,
    window_ms: u64,
}

async fn window_max(State(sim): State<Simulator>, Query(q): Query<WindowQuery>) -> Response {
    Json(json!({"max": sim.window_max(q.vendor, &q.account, q.window_ms)})).into_response()
}

async fn tasks(State(sim): State<Simulator>) -> Response {
    Json(json!({
        "plaso": sim.plaso_tasks(),
        "baijiayun": sim.baijiayun_tasks(),
    }))
    .into_response()
}

async fn submissions(State(sim): State<Simulator>) -> Response {
    Json(json!({
        "plaso": sim.plaso_submissions(),
        "baijiayun": sim.baijiayun_submissions(),
    }))
    .into_response()
}

async fn callbacks(State(sim): State<Simulator>) -> Response {
    Json(sim.deliveries()).into_response()
}

#[derive(Deserialize)]
struct DropBody {
    count: u32,
}

async fn drop_callbacks(State(sim): State<Simulator>, Json(b): Json<DropBody>) -> StatusCode {
    sim.drop_callbacks(b.count);
    StatusCode::NO_CONTENT
}

async fn arm_fault(State(sim): State<Simulator>, Json(f): Json<Fault>) -> StatusCode {
    sim.inject(f);
    StatusCode::NO_CONTENT
}

async fn clear_faults(State(sim): State<Simulator>) -> StatusCode {
    sim.world().faults.clear();
    StatusCode::NO_CONTENT
}

async fn reset(State(sim): State<Simulator>) -> StatusCode {
    sim.reset();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct PlasoRecord {
    record_id: String,
    #[serde(default)]
    outcome: PlasoOutcome,
}

async fn add_plaso_record(State(sim): State<Simulator>, Json(r): Json<PlasoRecord>) -> StatusCode {
    sim.plaso_add_record(&r.record_id, r.outcome);
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct NewLesson {
    lesson_id: i64,
    #[serde(default)]
    users: Vec<i64>,
}

async fn add_lesson(State(sim): State<Simulator>, Json(l): Json<NewLesson>) -> StatusCode {
    sim.weclassroom_add_lesson(l.lesson_id, &l.users);
    StatusCode::NO_CONTENT
}
