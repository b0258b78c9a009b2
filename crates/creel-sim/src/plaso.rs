//! Simulated Plaso: `transferVideo` and `getVideoTask` under `/plaso/dataentry/liveclass/`,
//! HMAC-SHA1 signatures with a validity window, tasks moving 0 → 1 → 2 → 3 → 99 (or −1, −2,
//! −3) one step at a time, 22001 while a record has a running task, 22003 for unknown records,
//! a count of billed submissions per record, and result callbacks retried 5 times a minute
//! apart. Plaso documents no signature error code: a bad or expired signature is answered with
//! HTTP 403.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use creel_core::config::Vendor;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::callbacks::CallbackBody;
use crate::gate::Refusal;
use crate::{Simulator, verify};

/// How a record's export ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlasoOutcome {
    /// 99 with a video URL.
    #[default]
    Success,
    /// −1.
    TranscodeFailed,
    /// −2.
    UploadFailed,
    /// −3: the callback is never acknowledged (the video exists; poll).
    CallbackFailed,
}

/// One export task.
#[derive(Debug, Clone, Serialize)]
pub struct PlasoTask {
    /// `taskId`.
    pub id: String,
    /// The record it exports.
    pub record_id: String,
    /// The account that submitted it.
    pub account: String,
    /// Its current status code.
    pub status: i64,
    /// The video URL once uploaded.
    pub video_url: Option<String>,
    #[serde(skip)]
    created: Duration,
    #[serde(skip)]
    outcome: PlasoOutcome,
    #[serde(skip)]
    callback_started: bool,
}

/// Simulated Plaso state.
#[derive(Debug, Default)]
pub struct PlasoWorld {
    records: HashMap<String, PlasoOutcome>,
    tasks: BTreeMap<String, PlasoTask>,
    submissions: HashMap<String, u32>,
}

pub(crate) fn routes() -> Router<Simulator> {
    Router::new().route("/plaso/{*path}", any(handle))
}

fn answer(code: i64, obj: Value, msg: &str) -> Response {
    axum::Json(json!({"code": code, "obj": obj, "msg": msg})).into_response()
}

/// Reads the parameters however they came: JSON body, form body or query string.
fn params(
    method: &Method,
    headers: &HeaderMap,
    query: Option<&str>,
    body: &[u8],
) -> Map<String, Value> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return serde_json::from_slice(body).unwrap_or_default();
    }
    let raw: &[u8] = if *method == Method::GET {
        query.unwrap_or_default().as_bytes()
    } else {
        body
    };
    url::form_urlencoded::parse(raw)
        .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
        .collect()
}

async fn handle(
    State(sim): State<Simulator>,
    Path(path): Path<String>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let path = format!("/{path}");
    let fields = params(&method, &headers, query.as_deref(), &body);
    let app_id = fields
        .get("appId")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let (outcome, response) = match sim.admit(Vendor::Plaso, app_id.as_deref(), &path).await {
        Err(refusal) => {
            let response = refusal.generic_response().unwrap_or_else(|| match refusal {
                Refusal::RateLimited => {
                    let a = sim.config().rate_limit;
                    let status = StatusCode::from_u16(a.http_status)
                        .unwrap_or(StatusCode::TOO_MANY_REQUESTS);
                    (
                        status,
                        axum::Json(
                            json!({"code": a.code, "obj": null, "msg": "too many requests"}),
                        ),
                    )
                        .into_response()
                }
                _ => (
                    StatusCode::FORBIDDEN,
                    axum::Json(json!({"code": 403, "obj": null, "msg": "unknown appId"})),
                )
                    .into_response(),
            });
            (refusal.outcome(), response)
        }
        Ok(admitted) => {
            if admitted.force_bad_sign || !signature_valid(&sim, &fields, &admitted.account.secret)
            {
                (
                    "bad_sign".to_owned(),
                    (
                        StatusCode::FORBIDDEN,
                        axum::Json(json!({"code": 403, "obj": null, "msg": "invalid signature"})),
                    )
                        .into_response(),
                )
            } else if path.ends_with("/transferVideo") {
                transfer_video(&sim, &admitted.account.id, &fields)
            } else if path.ends_with("/getVideoTask") {
                get_video_task(&sim, &fields)
            } else {
                (
                    "404".into(),
                    (StatusCode::NOT_FOUND, "no such endpoint").into_response(),
                )
            }
        }
    };
    sim.log_request(
        "plaso",
        app_id.as_deref(),
        &path,
        Value::Object(fields),
        outcome,
    );
    response
}

/// The signature matches and the validity window (`validBegin` .. `validBegin + validTime`)
/// contains now.
fn signature_valid(sim: &Simulator, fields: &Map<String, Value>, secret: &str) -> bool {
    let int = |k: &str| {
        fields.get(k).and_then(|v| {
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (Some(begin), Some(valid)) = (int("validBegin"), int("validTime")) else {
        return false;
    };
    let in_window = begin <= now + sim.config().plaso_clock_tolerance_secs && now <= begin + valid;
    in_window && verify::plaso_ok(fields, secret)
}

fn text<'a>(fields: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    fields
        .get(k)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn int(fields: &Map<String, Value>, k: &str) -> Option<i64> {
    fields.get(k).and_then(|v| {
        v.as_i64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
    })
}

/// Checks the options against the document; the first bad one, named.
fn bad_option(fields: &Map<String, Value>) -> Option<String> {
    let ranged = [
        ("videoBitrate", 500, 8000),
        ("audioBitrate", 64, 320),
        ("frameRate", 15, 60),
    ];
    for (k, lo, hi) in ranged {
        if fields.contains_key(k) && !int(fields, k).is_some_and(|v| (lo..=hi).contains(&v)) {
            return Some(format!("{k} must be {lo}-{hi}"));
        }
    }
    if fields.contains_key("convertMode")
        && !int(fields, "convertMode").is_some_and(|m| [1, 2, 3, 10, 20].contains(&m))
    {
        return Some("convertMode must be 1, 2, 3, 10 or 20".into());
    }
    if let Some(r) = fields.get("resolution")
        && !matches!(r.as_str(), Some("720P" | "1080P"))
    {
        return Some("resolution must be 720P or 1080P".into());
    }
    None
}

fn transfer_video(
    sim: &Simulator,
    account: &str,
    fields: &Map<String, Value>,
) -> (String, Response) {
    let (Some(record_id), Some(_)) = (text(fields, "recordId"), text(fields, "fileName")) else {
        return (
            "1".into(),
            answer(1, Value::Null, "recordId and fileName are required"),
        );
    };
    if let Some(reason) = bad_option(fields) {
        return ("1".into(), answer(1, Value::Null, &reason));
    }
    let mut world = sim.world();
    let n = world.next();
    let plaso = &mut world.plaso;
    let Some(outcome) = plaso.records.get(record_id).copied() else {
        return ("22003".into(), answer(22003, Value::Null, "课堂不存在"));
    };
    if plaso
        .tasks
        .values()
        .any(|t| t.record_id == record_id && (0..=3).contains(&t.status))
    {
        return (
            "22001".into(),
            answer(22001, Value::Null, "存在进行中的任务"),
        );
    }
    let id = format!("{:024x}", 0x6500_0000_0000_0000_u128 + u128::from(n));
    *plaso.submissions.entry(record_id.to_owned()).or_default() += 1;
    plaso.tasks.insert(
        id.clone(),
        PlasoTask {
            id: id.clone(),
            record_id: record_id.to_owned(),
            account: account.to_owned(),
            status: 0,
            video_url: None,
            created: sim.clock().elapsed(),
            outcome,
            callback_started: false,
        },
    );
    ("ok".into(), answer(0, json!({"taskId": id}), ""))
}

fn get_video_task(sim: &Simulator, fields: &Map<String, Value>) -> (String, Response) {
    let world = sim.world();
    let Some(task) = text(fields, "taskId").and_then(|id| world.plaso.tasks.get(id)) else {
        return ("1".into(), answer(1, Value::Null, "task not found"));
    };
    let mut obj = json!({"status": task.status});
    // The video is uploaded before Plaso calls back: a task whose callback was never
    // acknowledged (−3) has it too, which is why polling is the documented answer to −3.
    if task.status == 99 || task.status == -3 {
        obj["videoUrl"] = json!(task.video_url);
    }
    ("ok".into(), answer(0, obj, ""))
}

/// Moves tasks along and starts result callbacks.
pub(crate) fn tick(sim: &Simulator) {
    let step = sim.config().step();
    let now = sim.clock().elapsed();
    let mut callbacks = Vec::new();
    {
        let mut world = sim.world();
        let mut new_files = Vec::new();
        for task in world.plaso.tasks.values_mut() {
            if !(0..=3).contains(&task.status) || task.callback_started {
                continue;
            }
            let steps =
                ((now.saturating_sub(task.created)).as_nanos() / step.as_nanos().max(1)) as i64;
            task.status = match (task.outcome, steps) {
                (PlasoOutcome::TranscodeFailed, s) if s >= 2 => -1,
                (PlasoOutcome::UploadFailed, s) if s >= 3 => -2,
                (_, 0..=2) => steps,
                _ => 3,
            };
            if task.status == 3 && task.video_url.is_none() {
                new_files.push(task.id.clone());
            }
            if matches!(task.status, 3 | -1 | -2) {
                task.callback_started = true;
                callbacks.push((
                    task.id.clone(),
                    task.account.clone(),
                    task.status,
                    task.outcome,
                ));
            }
        }
        for id in new_files {
            let file = sim.new_file(&mut world, "plaso-");
            let url = sim.file_url(&file, Duration::from_secs(10 * 365 * 24 * 3600));
            if let Some(t) = world.plaso.tasks.get_mut(&id) {
                t.video_url = Some(url);
            }
        }
    }
    for (id, account, status, outcome) in callbacks {
        let url = sim
            .account(Vendor::Plaso, &account)
            .and_then(|a| a.callback_url);
        let location = sim
            .world()
            .plaso
            .tasks
            .get(&id)
            .and_then(|t| t.video_url.clone());
        let final_status = if status == 3 { 99 } else { status };
        let Some(url) = url else {
            set_status(sim, &id, final_status);
            continue;
        };
        if outcome == PlasoOutcome::CallbackFailed {
            sim.callbacks().drop_next(1);
        }
        let body = json!({"taskId": id, "status": final_status.to_string(), "location": if final_status == 99 { location.unwrap_or_default() } else { String::new() }});
        let retries = [Duration::from_secs(60); 5];
        let handle = sim
            .callbacks()
            .send("plaso", &url, CallbackBody::Json(body), &retries);
        let sim = sim.clone();
        tokio::spawn(async move {
            let acknowledged = handle.await.unwrap_or(false);
            if status == 3 {
                set_status(&sim, &id, if acknowledged { 99 } else { -3 });
            }
        });
    }
}

fn set_status(sim: &Simulator, id: &str, status: i64) {
    if let Some(t) = sim.world().plaso.tasks.get_mut(id) {
        t.status = status;
    }
}

impl Simulator {
    /// Adds a Plaso record that exports with `outcome`.
    pub fn plaso_add_record(&self, record_id: &str, outcome: PlasoOutcome) {
        self.world()
            .plaso
            .records
            .insert(record_id.to_owned(), outcome);
    }

    /// How many billed `transferVideo` submissions each record got.
    #[must_use]
    pub fn plaso_submissions(&self) -> HashMap<String, u32> {
        self.world().plaso.submissions.clone()
    }

    /// Every Plaso task.
    #[must_use]
    pub fn plaso_tasks(&self) -> Vec<PlasoTask> {
        self.world().plaso.tasks.values().cloned().collect()
    }
}
