//! Simulated Baijiayun's HTTP side: form (or query) parameters, `partner_id` → account, quota,
//! faults, `sign` (1002), then the endpoint; answers `{code, data, msg, ts}` with the
//! documents' codes (1001 parameter error, 1002 bad sign, 2001 account missing, 3001 room
//! missing, 1 for everything the documents leave generic).

use std::collections::HashMap;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use axum::{Json, Router};
use creel_core::config::Vendor;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ClassType, TaskOutcome};
use crate::gate::Refusal;
use crate::{FidReading, Simulator, World, verify};

pub(crate) fn routes() -> Router<Simulator> {
    Router::new().route("/baijiayun/{*path}", any(handle))
}

type Answer = (String, Response);

fn envelope(sim: &Simulator, code: i64, data: Value, msg: &str) -> Response {
    Json(json!({"code": code, "data": data, "msg": msg, "ts": sim.clock().unix_secs()}))
        .into_response()
}

fn ok(sim: &Simulator, data: Value) -> Answer {
    ("ok".into(), envelope(sim, 0, data, ""))
}

fn fail(sim: &Simulator, code: i64, msg: &str) -> Answer {
    (code.to_string(), envelope(sim, code, Value::Null, msg))
}

async fn handle(
    State(sim): State<Simulator>,
    Path(path): Path<String>,
    method: Method,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let path = format!("/{path}");
    let raw: &[u8] = if method == Method::GET {
        query.as_deref().unwrap_or_default().as_bytes()
    } else {
        &body
    };
    let fields: HashMap<String, String> = url::form_urlencoded::parse(raw).into_owned().collect();
    let partner = fields.get("partner_id").cloned();
    let (outcome, response) = match sim
        .admit(Vendor::Baijiayun, partner.as_deref(), &path)
        .await
    {
        Err(Refusal::NoAccount) => fail(&sim, 2001, "账号不存在"),
        Err(Refusal::RateLimited) => {
            let a = sim.config().rate_limit;
            let status =
                StatusCode::from_u16(a.http_status).unwrap_or(StatusCode::TOO_MANY_REQUESTS);
            let body = json!({"code": a.code, "data": null, "msg": "请求频率超限", "ts": sim.clock().unix_secs()});
            ("rate_limited".into(), (status, Json(body)).into_response())
        }
        Err(other) => (
            other.outcome(),
            other
                .generic_response()
                .unwrap_or_else(|| StatusCode::INTERNAL_SERVER_ERROR.into_response()),
        ),
        Ok(a) if a.force_bad_sign || !verify::baijiayun_ok(&fields, &a.account.secret) => {
            fail(&sim, 1002, "签名错误")
        }
        Ok(_)
            if fields
                .get("timestamp")
                .is_none_or(|t| t.len() != 10 || t.parse::<u64>().is_err()) =>
        {
            fail(&sim, 1001, "timestamp must be Unix seconds (10 digits)")
        }
        Ok(a) => dispatch(&sim, &a.account.id, &path, &fields),
    };
    let params = serde_json::to_value(&fields).unwrap_or_default();
    sim.log_request("baijiayun", partner.as_deref(), &path, params, outcome);
    response
}

fn int(f: &HashMap<String, String>, k: &str) -> Option<i64> {
    f.get(k).and_then(|v| v.parse().ok())
}

fn dispatch(sim: &Simulator, partner: &str, path: &str, f: &HashMap<String, String>) -> Answer {
    let Some(name) = path.rsplit('/').next() else {
        return fail(sim, 404, "not found");
    };
    let mut world = sim.world();
    match name {
        "getBasicInfo" => playback_info(sim, &world, partner, f).unwrap_or_else(|refused| refused),
        "getList" => playback_list(sim, &world, partner, f),
        "getCropList" => crop_list(sim, &world, partner, f).unwrap_or_else(|refused| refused),
        "generatePureVideo" => {
            pure_video(sim, &mut world, partner, f).unwrap_or_else(|refused| refused)
        }
        "segmentCrop" => {
            segment_crop(sim, &mut world, partner, f).unwrap_or_else(|refused| refused)
        }
        "generateRoomPureVideo" => {
            room_pure_video(sim, &mut world, partner, f).unwrap_or_else(|refused| refused)
        }
        "getPureVideoUrl" => {
            pure_video_url(sim, &world, partner, f).unwrap_or_else(|refused| refused)
        }
        "batchCrop" => batch_crop(sim, &mut world, partner, f).unwrap_or_else(|refused| refused),
        "mergePlaybackToPureVideo" => merge(sim, &mut world, partner, f),
        "getMergePureVideoInfo" => merge_info(sim, &world, partner, f),
        "getStatus" | "getInfo" | "getUrl" => vod(sim, &world, partner, name, f),
        "getAccountInfo" => {
            let used = world.baijiayun.used_flow.get(partner).copied().unwrap_or(0);
            ok(
                sim,
                json!({"partner_id": partner, "type": 2, "status": 1, "charge_type": 0,
                    "used_flow": used, "month_flow_limit": sim.config().vod_month_flow_limit,
                    "total_storage": 10_u64 << 30, "used_storage": 0}),
            )
        }
        "getVideoList" => {
            sim.bjy_clock_vods(&mut world, partner);
            vod_list(sim, &world, partner, f)
        }
        "setTranscodeCallbackUrl" => match f.get("url") {
            Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
                world
                    .baijiayun
                    .callback_urls
                    .insert(partner.to_owned(), url.clone());
                ok(sim, json!({"url": url}))
            }
            _ => fail(sim, 1001, "url must start with http(s)://"),
        },
        "getTranscodeCallbackUrl" => {
            let url = world
                .baijiayun
                .callback_urls
                .get(partner)
                .cloned()
                .unwrap_or_default();
            ok(sim, json!({"url": url}))
        }
        _ => fail(sim, 404, "接口不存在"),
    }
}

/// The room and session a request names: 1001 without a room, 3001 for another account's or
/// an unknown room.
fn place(
    sim: &Simulator,
    world: &World,
    partner: &str,
    f: &HashMap<String, String>,
) -> Result<(i64, i64, ClassType), Answer> {
    let room = int(f, "room_id").ok_or_else(|| fail(sim, 1001, "room_id is required"))?;
    let r = world
        .baijiayun
        .rooms
        .get(&room)
        .filter(|r| r.partner_id == partner)
        .ok_or_else(|| fail(sim, 3001, "房间不存在"))?;
    Ok((room, int(f, "session_id").unwrap_or(0), r.class_type))
}

fn video_json(v: &super::SimVideo, size: u64) -> Value {
    json!({
        "room_id": v.room_id, "session_id": v.session_id, "video_id": v.video_id, "name": v.name,
        "status": v.status, "version": v.version, "version_type": i64::from(v.version != Some(0)),
        "length": 600, "total_size": size, "create_time": crate::china_time::format(v.added_unix),
    })
}

fn original(world: &World, room: i64, session: i64) -> Option<&super::SimVideo> {
    world
        .baijiayun
        .videos
        .values()
        .find(|v| v.kind == "playback" && v.room_id == Some(room) && v.session_id == Some(session))
}

fn size_of(world: &World, v: &super::SimVideo) -> u64 {
    world.files.get(&v.file).map_or(0, |f| f.size)
}

fn playback_info(
    sim: &Simulator,
    world: &World,
    partner: &str,
    f: &HashMap<String, String>,
) -> Result<Answer, Answer> {
    let (room, session, _) = place(sim, world, partner, f)?;
    Ok(match original(world, room, session) {
        Some(v) => ok(sim, video_json(v, size_of(world, v))),
        None => fail(sim, 1, "回放未生成"),
    })
}

fn playback_list(
    sim: &Simulator,
    world: &World,
    partner: &str,
    f: &HashMap<String, String>,
) -> Answer {
    let page = int(f, "page").unwrap_or(1).max(1) as usize;
    let size = int(f, "page_size").unwrap_or(100).clamp(1, 1000) as usize;
    let room = int(f, "room_id");
    let all: Vec<Value> = world
        .baijiayun
        .videos
        .values()
        .rev()
        .filter(|v| v.kind == "playback" && v.partner_id == partner)
        .filter(|v| room.is_none_or(|r| v.room_id == Some(r)))
        .map(|v| video_json(v, size_of(world, v)))
        .collect();
    let list: Vec<Value> = all
        .iter()
        .skip((page - 1) * size)
        .take(size)
        .cloned()
        .collect();
    ok(sim, json!({"total": all.len(), "list": list}))
}

fn crop_list(
    sim: &Simulator,
    world: &World,
    partner: &str,
    f: &HashMap<String, String>,
) -> Result<Answer, Answer> {
    let (room, session, _) = place(sim, world, partner, f)?;
    let list: Vec<Value> = world
        .baijiayun
        .videos
        .values()
        .filter(|v| {
            matches!(v.kind, "playback" | "crop")
                && v.room_id == Some(room)
                && v.session_id == Some(session)
        })
        .map(|v| video_json(v, size_of(world, v)))
        .collect();
    Ok(ok(sim, json!({"total": list.len(), "list": list})))
}

/// Starts a pure-video task for (room, session) unless one exists; bills it.
fn start_pure(
    sim: &Simulator,
    world: &mut World,
    partner: &str,
    room: i64,
    session: i64,
    api: &str,
) -> bool {
    if world.baijiayun.pure.contains_key(&(room, session)) {
        return false;
    }
    let outcome = world.baijiayun.derived_outcome(room);
    let id = sim.bjy_new_video(
        world,
        partner,
        "pure_video",
        Some((room, session, 0)),
        3,
        outcome,
    );
    world.baijiayun.pure.insert((room, session), id);
    world.baijiayun.bill(format!("{api}:{room}:{session}"));
    true
}

fn pure_video(
    sim: &Simulator,
    world: &mut World,
    partner: &str,
    f: &HashMap<String, String>,
) -> Result<Answer, Answer> {
    let (room, session, class) = place(sim, world, partner, f)?;
    if class == ClassType::SmallClass {
        return Ok(fail(sim, 1, "该接口只能用于大班课生成纯视频"));
    }
    if original(world, room, session).is_none_or(|v| v.status != 100) {
        return Ok(fail(sim, 1, "回放未生成"));
    }
    // A second request for the same playback is billed again at the vendor: count it.
    if !start_pure(sim, world, partner, room, session, "pure_video") {
        world.baijiayun.bill(format!("pure_video:{room}:{session}"));
    }
    Ok(ok(sim, Value::Null))
}

fn room_pure_video(
    sim: &Simulator,
    world: &mut World,
    partner: &str,
    f: &HashMap<String, String>,
) -> Result<Answer, Answer> {
    let (room, _, class) = place(sim, world, partner, f)?;
    if class == ClassType::SmallClass {
        return Ok(fail(sim, 1, "该接口只能用于大班课生成纯视频"));
    }
    let playbacks: Vec<(i64, i64)> = world
        .baijiayun
        .videos
        .values()
        .filter(|v| v.kind == "playback" && v.room_id == Some(room) && v.status == 100)
        .filter_map(|v| Some((v.session_id?, v.video_id)))
        .collect();
    let reading = sim.config().success_fids;
    let mut fids = Vec::new();
    for (session, video) in playbacks {
        if start_pure(sim, world, partner, room, session, "room_pure_video") {
            fids.push(match reading {
                FidReading::SessionIds => session.to_string(),
                FidReading::VideoIds => video.to_string(),
            });
        }
    }
    Ok(ok(sim, json!({"success_fids": fids})))
}

fn pure_video_url(
    sim: &Simulator,
    world: &World,
    partner: &str,
    f: &HashMap<String, String>,
) -> Result<Answer, Answer> {
    let (room, session, _) = place(sim, world, partner, f)?;
    let video = world
        .baijiayun
        .pure
        .get(&(room, session))
        .and_then(|id| world.baijiayun.videos.get(id));
    Ok(match video {
        Some(v) if v.status == 100 => {
            let file = &world.files[&v.file];
            ok(
                sim,
                json!({"url": sim.file_url(file, Duration::from_secs(sim.config().pure_video_url_ttl_secs))}),
            )
        }
        Some(_) => fail(sim, 1, "纯视频生成中"),
        None => fail(sim, 1, "纯视频任务不存在"),
    })
}

/// Creates the crop versions of (room, session) for `segments` and returns API 17/35's list.
fn crop(
    sim: &Simulator,
    world: &mut World,
    partner: &str,
    room: i64,
    session: i64,
    segments: usize,
    api: &str,
) -> Value {
    let first = world
        .baijiayun
        .videos
        .values()
        .filter(|v| v.room_id == Some(room) && v.session_id == Some(session))
        .filter_map(|v| v.version)
        .max()
        .unwrap_or(0)
        + 1;
    let mut list = Vec::new();
    let outcome = world.baijiayun.derived_outcome(room);
    for version in first..first + segments as i64 {
        let id = sim.bjy_new_video(
            world,
            partner,
            "crop",
            Some((room, session, version)),
            2,
            outcome,
        );
        list.push(json!({"video_id": id, "room_id": room.to_string(), "session_id": session, "version": version}));
    }
    world.baijiayun.bill(format!("{api}:{room}:{session}"));
    json!({"total": list.len(), "list": list})
}

fn segment_crop(
    sim: &Simulator,
    world: &mut World,
    partner: &str,
    f: &HashMap<String, String>,
) -> Result<Answer, Answer> {
    let (room, session, class) = place(sim, world, partner, f)?;
    if class != ClassType::WebrtcLargeClass {
        return Ok(fail(sim, 1, "只适用于webrtc大班课"));
    }
    let Some(len) = int(f, "length_per_segment").filter(|l| *l > 0) else {
        return Ok(fail(sim, 1001, "length_per_segment is required"));
    };
    if original(world, room, session).is_none_or(|v| v.status != 100) {
        return Ok(fail(sim, 1, "回放未生成"));
    }
    let segments = (600 + len - 1) / len;
    let data = crop(
        sim,
        world,
        partner,
        room,
        session,
        segments as usize,
        "segment_crop",
    );
    Ok(ok(sim, data))
}

#[derive(Deserialize)]
struct Segment {
    start_time: u64,
    end_time: u64,
    name: String,
}

fn batch_crop(
    sim: &Simulator,
    world: &mut World,
    partner: &str,
    f: &HashMap<String, String>,
) -> Result<Answer, Answer> {
    let (room, session, _) = place(sim, world, partner, f)?;
    let segments: Vec<Segment> = match f.get("crop_info").map(|c| serde_json::from_str(c)) {
        Some(Ok(s)) => s,
        _ => {
            return Ok(fail(
                sim,
                1001,
                "crop_info must be a JSON array of {start_time, end_time, name}",
            ));
        }
    };
    if segments.is_empty()
        || segments
            .iter()
            .any(|s| s.end_time <= s.start_time || s.name.is_empty() || s.end_time > 600)
    {
        return Ok(fail(
            sim,
            1001,
            "crop_info segments must lie inside the playback, end after start, and be named",
        ));
    }
    if original(world, room, session).is_none_or(|v| v.status != 100) {
        return Ok(fail(sim, 1, "回放未生成"));
    }
    let data = crop(
        sim,
        world,
        partner,
        room,
        session,
        segments.len(),
        "batch_crop",
    );
    Ok(ok(sim, data))
}

fn merge(sim: &Simulator, world: &mut World, partner: &str, f: &HashMap<String, String>) -> Answer {
    let Some(id) = int(f, "mixed_playback_id") else {
        return fail(sim, 1001, "mixed_playback_id is required");
    };
    match world.baijiayun.merged.get(&id) {
        Some((owner, _)) if owner == partner => {}
        _ => return fail(sim, 3001, "合并回放不存在"),
    }
    let video = sim.bjy_new_video(
        world,
        partner,
        "merged_pure_video",
        None,
        3,
        TaskOutcome::Success,
    );
    world
        .baijiayun
        .merged
        .insert(id, (partner.to_owned(), Some(video)));
    world.baijiayun.bill(format!("merge_pure_video:{id}"));
    ok(sim, json!({"mixed_playback_id": id.to_string()}))
}

fn merge_info(
    sim: &Simulator,
    world: &World,
    partner: &str,
    f: &HashMap<String, String>,
) -> Answer {
    let Some(id) = int(f, "mixed_playback_id") else {
        return fail(sim, 1001, "mixed_playback_id is required");
    };
    let video = match world.baijiayun.merged.get(&id) {
        Some((owner, v)) if owner == partner => v.and_then(|v| world.baijiayun.videos.get(&v)),
        _ => return fail(sim, 3001, "合并回放不存在"),
    };
    match video {
        Some(v) if v.status == 100 => {
            let file = &world.files[&v.file];
            let url = sim.file_url(
                file,
                Duration::from_secs(sim.config().pure_video_url_ttl_secs),
            );
            ok(
                sim,
                json!({"play_info": {"720p": {"duration": 600, "height": 720, "width": 1280, "size": file.size, "url": url}}, "fid": v.video_id.to_string()}),
            )
        }
        _ => fail(sim, 1, "纯视频生成中"),
    }
}

/// VOD `getVideoList`: the account's VOD videos, newest first (the document does not say;
/// this is the playback list's order), `create_time` as local time text (UTC+8), only those
/// added since `create_time` when it is given.
fn vod_list(sim: &Simulator, world: &World, partner: &str, f: &HashMap<String, String>) -> Answer {
    let page = int(f, "page").unwrap_or(1);
    let size = int(f, "page_size").unwrap_or(20);
    if page < 1 || !(1..=1000).contains(&size) {
        return fail(sim, 1001, "page must be 1 or more and page_size 1 to 1000");
    }
    let since = match f.get("create_time").filter(|t| !t.is_empty()) {
        Some(t) => match crate::china_time::parse(t) {
            Some(s) => s,
            None => return fail(sim, 1001, "create_time must be YYYY-MM-DD HH:MM:SS"),
        },
        None => 0,
    };
    let mut all: Vec<&super::SimVideo> = world
        .baijiayun
        .videos
        .values()
        .filter(|v| v.kind == "vod" && v.partner_id == partner && v.added_unix >= since)
        .collect();
    all.sort_by_key(|v| std::cmp::Reverse((v.added_unix, v.video_id)));
    let (page, size) = (page as usize, size as usize);
    let list: Vec<Value> = all
        .iter()
        .skip((page - 1) * size)
        .take(size)
        .map(|v| {
            json!({
                "video_id": v.video_id, "name": v.name, "status": v.status,
                "total_size": if v.status == 100 { size_of(world, v) } else { 0 },
                "create_time": crate::china_time::format(v.added_unix),
                "length": "600", "publish_status": 1,
            })
        })
        .collect();
    ok(
        sim,
        json!({"total": all.len(), "page": page, "page_size": size, "list": list}),
    )
}

fn vod(
    sim: &Simulator,
    world: &World,
    partner: &str,
    name: &str,
    f: &HashMap<String, String>,
) -> Answer {
    let Some(id) = int(f, "video_id") else {
        return fail(sim, 1001, "video_id is required");
    };
    let Some(v) = world
        .baijiayun
        .videos
        .get(&id)
        .filter(|v| v.partner_id == partner)
    else {
        return fail(sim, 1, "视频不存在");
    };
    let file = &world.files[&v.file];
    match name {
        "getStatus" => ok(
            sim,
            json!({"status": v.status, "info": if v.status == 100 { "转码成功" } else { "转码中" }}),
        ),
        "getInfo" => ok(
            sim,
            json!({
                "video_id": v.video_id, "name": v.name, "status": v.status, "total_size": file.size,
                "file_md5": file.md5, "length": "600", "create_time": 1_763_800_000,
            }),
        ),
        _ if v.status != 100 => fail(sim, 1, "视频未转码完成"),
        _ => {
            let ttl =
                int(f, "expires_in").map_or(sim.config().vod_url_ttl_secs, |e| e.max(1) as u64);
            let url = sim.file_url(file, Duration::from_secs(ttl));
            ok(
                sim,
                json!({"video_id": v.video_id.to_string(), "play_info": {"high": {"duration": 600, "height": 720, "width": 1280, "size": file.size, "url": url}}}),
            )
        }
    }
}

#[derive(Deserialize)]
struct NewPlayback {
    partner_id: String,
    room_id: i64,
    #[serde(default)]
    session_id: i64,
    #[serde(default)]
    class_type: ClassType,
    #[serde(default)]
    serial_number: Option<String>,
}

#[derive(Deserialize)]
struct NewVod {
    partner_id: String,
    #[serde(default)]
    outcome: TaskOutcome,
}

pub(crate) fn seed_routes() -> Router<Simulator> {
    Router::new()
        .route("/_sim/baijiayun/playbacks", post(|State(sim): State<Simulator>, Json(p): Json<NewPlayback>| async move {
            Json(json!({"video_id": sim.baijiayun_add_playback(&p.partner_id, p.room_id, p.session_id, p.class_type, p.serial_number.as_deref())}))
        }))
        .route("/_sim/baijiayun/vods", post(|State(sim): State<Simulator>, Json(v): Json<NewVod>| async move {
            Json(json!({"video_id": sim.baijiayun_add_vod(&v.partner_id, v.outcome)}))
        }))
}
