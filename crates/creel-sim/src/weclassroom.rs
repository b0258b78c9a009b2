//! Simulated WeClassroom: `/weclassroom/lesson/get_class_info` (API 17),
//! `/weclassroom/lesson/get_lesson_status` (API 18),
//! `/weclassroom/lesson/service/record` (API 21) and `/weclassroom/lesson/replay/url` (API 24).
//! Every request must be exactly `applicationID` + `signMsg`; the simulator opens the signMsg
//! with its own AES/HMAC/unserialize code and answers the document's codes (20001–20005,
//! 30001, 40001, 40002) when something is off, including a parameter of the wrong PHP type.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use axum::Form;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use creel_core::config::Vendor;
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::Simulator;
use crate::gate::Refusal;
use crate::verify::{SignMsgError, weclassroom_open};

/// A simulated lesson.
#[derive(Debug, Clone, Serialize)]
pub struct Lesson {
    /// 0 not started, 1 in class, 2 finished, 3 expired.
    pub status: i64,
    /// The replay video's file id, once there is one.
    pub replay: Option<String>,
    /// Server recordings per user: (YYYYMMDD, file id).
    pub recordings: HashMap<i64, Vec<(String, String)>>,
    /// When it began, in vendor Unix seconds (API 17 lists lessons by it).
    pub started_unix: u64,
}

/// How long a simulated lesson lasts.
const LESSON_SECS: u64 = 45 * 60;

/// Simulated WeClassroom state.
#[derive(Debug, Default)]
pub struct WeclassroomWorld {
    lessons: BTreeMap<i64, Lesson>,
}

pub(crate) fn routes() -> Router<Simulator> {
    Router::new().route("/weclassroom/{*path}", post(handle))
}

fn ok(data: Value) -> Response {
    axum::Json(json!({"status": 1, "error_code": 10000, "msg": "成功", "data": data}))
        .into_response()
}

fn fail(code: i64, msg: &str) -> (String, Response) {
    (
        code.to_string(),
        axum::Json(json!({"status": 0, "error_code": code, "msg": msg, "data": []}))
            .into_response(),
    )
}

async fn handle(
    State(sim): State<Simulator>,
    Path(path): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let path = format!("/{path}");
    let app_id = form.get("applicationID").cloned();
    let mut params = Value::Null;
    let (outcome, response) = match (&app_id, form.get("signMsg")) {
        (None, _) => fail(20001, "applicationID 未传"),
        (_, None) => fail(20002, "signMsg 未传"),
        (Some(_), Some(_)) if form.len() != 2 => {
            fail(40004, "only applicationID and signMsg may be sent")
        }
        (Some(id), Some(sign_msg)) => match sim.admit(Vendor::Weclassroom, Some(id), &path).await {
            Err(Refusal::NoAccount) => fail(20003, "applicationID 错误"),
            Err(Refusal::RateLimited) => {
                let a = sim.config().rate_limit;
                let status =
                    StatusCode::from_u16(a.http_status).unwrap_or(StatusCode::TOO_MANY_REQUESTS);
                let body = json!({"status": 0, "error_code": a.code, "msg": "too many requests", "data": []});
                (
                    "rate_limited".into(),
                    (status, axum::Json(body)).into_response(),
                )
            }
            Err(other) => (
                other.outcome(),
                other
                    .generic_response()
                    .unwrap_or_else(|| StatusCode::INTERNAL_SERVER_ERROR.into_response()),
            ),
            Ok(admitted) if admitted.force_bad_sign => fail(20005, "授权验证异常"),
            Ok(admitted) => match weclassroom_open(sign_msg, admitted.account.secret.as_bytes()) {
                Err(SignMsgError::Auth(why)) => fail(20005, &format!("授权验证异常: {why}")),
                Err(SignMsgError::Params(why)) => fail(40002, &why),
                Ok(p) => {
                    params = p.clone();
                    dispatch(&sim, &path, p.as_object().cloned().unwrap_or_default())
                }
            },
        },
    };
    sim.log_request("weclassroom", app_id.as_deref(), &path, params, outcome);
    response
}

fn dispatch(sim: &Simulator, path: &str, p: Map<String, Value>) -> (String, Response) {
    match path {
        "/lesson/get_lesson_status" => lesson_status(sim, &p),
        "/lesson/get_class_info" => class_info(sim, &p),
        "/lesson/service/record" => server_recordings(sim, &p),
        "/lesson/replay/url" => replay_url(sim, &p),
        _ => fail(30001, "未找到对应路由"),
    }
}

/// An integer parameter that must be sent as a PHP integer.
fn int_param(p: &Map<String, Value>, k: &str) -> Result<i64, (String, Response)> {
    match p.get(k) {
        None => Err(fail(40001, &format!("缺少参数 {k}"))),
        Some(v) => v
            .as_i64()
            .ok_or_else(|| fail(40002, &format!("参数类型不正确: {k} must be an integer"))),
    }
}

fn lesson_status(sim: &Simulator, p: &Map<String, Value>) -> (String, Response) {
    let Some(ids) = p.get("lesson_id") else {
        return fail(40001, "缺少参数 lesson_id");
    };
    let Some(ids) = ids.as_object() else {
        return fail(40002, "参数类型不正确: lesson_id must be an array");
    };
    let mut data = Vec::new();
    let world = sim.world();
    for id in ids.values() {
        let Some(id) = id.as_i64() else {
            return fail(40002, "参数类型不正确: lesson ids must be integers");
        };
        if let Some(lesson) = world.weclassroom.lessons.get(&id) {
            let video = lesson
                .replay
                .as_ref()
                .and_then(|f| world.files.get(f))
                .map(|f| sim.file_url(f, Duration::from_secs(7 * 24 * 3600)));
            data.push(json!({"lesson_id": id.to_string(), "status": lesson.status, "video": video.unwrap_or_default()}));
        }
    }
    ("ok".into(), ok(Value::Array(data)))
}

/// API 17: the lessons that began between `start_time` and `end_time` (PHP strings,
/// `YYYY-mm-dd HH:ii:ss`, UTC+8), with their state and actual times.
fn class_info(sim: &Simulator, p: &Map<String, Value>) -> (String, Response) {
    let mut range = [0_u64; 2];
    for (i, k) in ["start_time", "end_time"].into_iter().enumerate() {
        range[i] = match p.get(k) {
            None => return fail(40001, &format!("缺少参数 {k}")),
            Some(Value::String(s)) => match crate::china_time::parse(s) {
                Some(t) => t,
                None => return fail(40003, &format!("参数数值异常: {k}")),
            },
            Some(_) => return fail(40002, &format!("参数类型不正确: {k} must be a string")),
        };
    }
    let world = sim.world();
    let data: Vec<Value> = world
        .weclassroom
        .lessons
        .iter()
        .filter(|(_, l)| l.started_unix >= range[0] && l.started_unix <= range[1])
        .map(|(id, l)| {
            let ended = (l.status >= 2).then(|| crate::china_time::format(l.started_unix + LESSON_SECS));
            json!({"lesson_id": id, "status": l.status,
                "actual_start_time": (l.status >= 1).then(|| crate::china_time::format(l.started_unix)),
                "actual_end_time": ended})
        })
        .collect();
    ("ok".into(), ok(Value::Array(data)))
}

fn server_recordings(sim: &Simulator, p: &Map<String, Value>) -> (String, Response) {
    let lesson = match int_param(p, "lesson_id") {
        Ok(v) => v,
        Err(e) => return e,
    };
    let user = match int_param(p, "user_id") {
        Ok(v) => v,
        Err(e) => return e,
    };
    let world = sim.world();
    let Some(l) = world.weclassroom.lessons.get(&lesson) else {
        return fail(40003, "课节不存在");
    };
    let mut by_day: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (day, file) in l.recordings.get(&user).into_iter().flatten() {
        if let Some(f) = world.files.get(file) {
            by_day
                .entry(day.clone())
                .or_default()
                .push(sim.file_url(f, Duration::from_secs(7 * 24 * 3600)));
        }
    }
    // The document's example puts the days beside `status`, not under `data`.
    let mut body = json!({"status": 1, "error_code": 10000, "msg": "sucess", "script_flag": 1, "scribblelog": []});
    for (day, urls) in by_day {
        body[day] = json!(urls);
    }
    ("ok".into(), axum::Json(body).into_response())
}

fn replay_url(sim: &Simulator, p: &Map<String, Value>) -> (String, Response) {
    let id = match p.get("lessonId") {
        None => return fail(40001, "缺少参数 lessonId"),
        Some(Value::String(s)) => match s.parse::<i64>() {
            Ok(id) => id,
            Err(_) => return fail(40003, "参数数值异常: lessonId"),
        },
        Some(_) => return fail(40002, "参数类型不正确: lessonId must be a string"),
    };
    let world = sim.world();
    let Some(lesson) = world.weclassroom.lessons.get(&id) else {
        return fail(40003, "课节不存在");
    };
    let Some(file) = lesson.replay.as_ref().and_then(|f| world.files.get(f)) else {
        return fail(40004, "回放未生成");
    };
    let url = sim.file_url(file, Duration::from_secs(7 * 24 * 3600));
    (
        "ok".into(),
        ok(json!({"lesson_id": id.to_string(), "name": format!("lesson {id}"), "mp4url": url})),
    )
}

impl Simulator {
    /// Adds a finished lesson with a replay video and server recordings for `users`.
    pub fn weclassroom_add_lesson(&self, lesson_id: i64, users: &[i64]) {
        let mut world = self.world();
        let replay = self.new_file(&mut world, "wc-replay-");
        let mut recordings = HashMap::new();
        for user in users {
            let f = self.new_file(&mut world, "wc-rec-");
            recordings.insert(*user, vec![("20261122".to_owned(), f.id)]);
        }
        world.weclassroom.lessons.insert(
            lesson_id,
            Lesson {
                status: 2,
                replay: Some(replay.id),
                recordings,
                started_unix: self.clock().unix_secs().saturating_sub(LESSON_SECS),
            },
        );
    }

    /// Adds `count` finished lessons with replays, ids from `first_id`, that began in the
    /// past: the first at `first_unix` (vendor Unix seconds), then one every `every_secs`.
    pub fn weclassroom_add_past_lessons(
        &self,
        first_id: i64,
        count: usize,
        first_unix: u64,
        every_secs: u64,
    ) {
        let mut world = self.world();
        let mut at = first_unix;
        for id in (first_id..).take(count) {
            let replay = self.new_file(&mut world, "wc-replay-");
            world.weclassroom.lessons.insert(
                id,
                Lesson {
                    status: 2,
                    replay: Some(replay.id),
                    recordings: HashMap::new(),
                    started_unix: at,
                },
            );
            at += every_secs;
        }
    }

    /// Adds a lesson in `status` (0 not started, 1 in class, 3 expired) with no replay yet:
    /// API 24 answers 40004 for it.
    pub fn weclassroom_add_lesson_without_replay(&self, lesson_id: i64, status: i64) {
        self.world().weclassroom.lessons.insert(
            lesson_id,
            Lesson {
                status,
                replay: None,
                recordings: HashMap::new(),
                started_unix: self.clock().unix_secs(),
            },
        );
    }

    /// Ends a lesson added without a replay: it is finished (2) and its replay generated.
    pub fn weclassroom_finish_lesson(&self, lesson_id: i64) {
        let mut world = self.world();
        let replay = self.new_file(&mut world, "wc-replay-");
        if let Some(lesson) = world.weclassroom.lessons.get_mut(&lesson_id) {
            lesson.status = 2;
            lesson.replay = Some(replay.id);
        }
    }

    /// The MD5 of a lesson's replay video.
    #[must_use]
    pub fn weclassroom_replay_md5(&self, lesson_id: i64) -> Option<String> {
        let world = self.world();
        let id = world.weclassroom.lessons.get(&lesson_id)?.replay.clone()?;
        world.files.get(&id).map(|f| f.md5.clone())
    }
}
