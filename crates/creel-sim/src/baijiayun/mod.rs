//! Simulated Baijiayun: rooms with sessions and playback versions, crops, pure-video tasks,
//! merged playbacks and VOD videos; every task moves through the documented statuses on the
//! simulator's clock and fires its signed callbacks (transcode, pure video, VOD, dual-teacher
//! auto-match) with the vendor's two retries. The HTTP side is in `api`.

mod api;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use creel_core::config::Vendor;
use serde::{Deserialize, Serialize};

use crate::callbacks::CallbackBody;
use crate::{SimAccount, Simulator, World};

pub(crate) use api::{routes, seed_routes};

/// What kind of classroom a room is (API 16 needs a large class, API 17 a webrtc large class).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClassType {
    /// 大班课.
    #[default]
    LargeClass,
    /// webrtc 大班课.
    WebrtcLargeClass,
    /// 小班课.
    SmallClass,
}

/// How a transcode or pure-video task ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskOutcome {
    /// Status 100.
    #[default]
    Success,
    /// Status 30.
    Failure,
}

/// A playback version (the original is version 0) or a VOD video or a pure video.
#[derive(Debug, Clone, Serialize)]
pub struct SimVideo {
    /// Its video id.
    pub video_id: i64,
    /// The account it belongs to.
    pub partner_id: String,
    /// Room and session, for playback videos.
    pub room_id: Option<i64>,
    /// The session (0 for a short-term room).
    pub session_id: Option<i64>,
    /// The crop version (0 = the original), for playback videos.
    pub version: Option<i64>,
    /// What it is: `playback`, `crop`, `pure_video`, `merged_pure_video`, `vod`.
    pub kind: &'static str,
    /// Its status: 20 transcoding, 30 failed, 100 ready.
    pub status: i64,
    /// Its name.
    pub name: String,
    /// Its bytes.
    pub file: String,
    /// Dual-teacher serial number (auto-match callback on success).
    pub serial_number: Option<String>,
    /// When it was added, in vendor Unix seconds (`create_time` in lists).
    pub added_unix: u64,
    #[serde(skip)]
    created: Duration,
    #[serde(skip)]
    outcome: TaskOutcome,
    #[serde(skip)]
    steps: u32,
}

/// A room.
#[derive(Debug, Clone, Serialize)]
pub struct Room {
    /// The account.
    pub partner_id: String,
    /// Its class type.
    pub class_type: ClassType,
}

/// Simulated Baijiayun state.
#[derive(Debug, Default)]
pub struct BaijiayunWorld {
    rooms: BTreeMap<i64, Room>,
    videos: BTreeMap<i64, SimVideo>,
    /// (room, session) → the pure video's id.
    pure: HashMap<(i64, i64), i64>,
    /// mixed_playback_id → (account, the merged pure video's id once requested).
    merged: BTreeMap<i64, (String, Option<i64>)>,
    callback_urls: HashMap<String, String>,
    submissions: BTreeMap<String, u32>,
    next_video_id: i64,
    /// Rooms whose crops and pure videos fail to transcode (status 30).
    failing_rooms: std::collections::HashSet<i64>,
    /// Per account, how many clock-driven VOD videos it got so far (`new_vod_every_secs`).
    clock_vods: HashMap<String, u64>,
    /// Per account, the traffic `getAccountInfo` reports as used (Baijiayun counts it once a
    /// day, so it does not follow the downloads: a test sets it).
    used_flow: HashMap<String, u64>,
}

impl BaijiayunWorld {
    /// The outcome of a crop or pure video of `room`.
    pub(crate) fn derived_outcome(&self, room: i64) -> TaskOutcome {
        if self.failing_rooms.contains(&room) {
            TaskOutcome::Failure
        } else {
            TaskOutcome::Success
        }
    }

    fn next_video_id(&mut self) -> i64 {
        self.next_video_id = self.next_video_id.max(600_000) + 1;
        self.next_video_id
    }

    fn bill(&mut self, key: String) {
        *self.submissions.entry(key).or_default() += 1;
    }
}

/// Retries of playback, pure-video and VOD callbacks (vendor time).
const TRANSCODE_RETRIES: [Duration; 2] = [Duration::from_secs(5), Duration::from_secs(30)];
/// Retries of dual-teacher callbacks.
const DUAL_TEACHER_RETRIES: [Duration; 2] = [Duration::from_secs(5), Duration::from_secs(60)];

impl Simulator {
    /// Adds a video in `world` that is transcoding now and ends with `outcome` after `steps`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn bjy_new_video(
        &self,
        world: &mut World,
        partner_id: &str,
        kind: &'static str,
        place: Option<(i64, i64, i64)>,
        steps: u32,
        outcome: TaskOutcome,
    ) -> i64 {
        let file = self.new_file(world, "bjy-").id;
        let video_id = world.baijiayun.next_video_id();
        world.baijiayun.videos.insert(
            video_id,
            SimVideo {
                video_id,
                partner_id: partner_id.to_owned(),
                room_id: place.map(|p| p.0),
                session_id: place.map(|p| p.1),
                version: place.map(|p| p.2),
                kind,
                status: 20,
                name: format!("{kind} {video_id}"),
                file,
                serial_number: None,
                added_unix: self.clock().unix_secs(),
                created: self.clock().elapsed(),
                outcome,
                steps,
            },
        );
        video_id
    }

    /// Adds a room of `partner_id` with one finished lesson (session `session_id`, 0 for a
    /// short-term room) whose playback starts transcoding now. With a `serial_number` the
    /// dual-teacher auto-match callback fires when it is transcoded. Returns the video id.
    pub fn baijiayun_add_playback(
        &self,
        partner_id: &str,
        room_id: i64,
        session_id: i64,
        class_type: ClassType,
        serial_number: Option<&str>,
    ) -> i64 {
        let mut world = self.world();
        world
            .baijiayun
            .rooms
            .entry(room_id)
            .or_insert_with(|| Room {
                partner_id: partner_id.to_owned(),
                class_type,
            });
        let id = self.bjy_new_video(
            &mut world,
            partner_id,
            "playback",
            Some((room_id, session_id, 0)),
            2,
            TaskOutcome::Success,
        );
        if let Some(v) = world.baijiayun.videos.get_mut(&id) {
            v.serial_number = serial_number.map(str::to_owned);
        }
        id
    }

    /// Adds an uploaded VOD video of `partner_id` that transcodes with `outcome`.
    pub fn baijiayun_add_vod(&self, partner_id: &str, outcome: TaskOutcome) -> i64 {
        let mut world = self.world();
        self.bjy_new_video(&mut world, partner_id, "vod", None, 2, outcome)
    }

    /// Adds `count` VOD videos of `partner_id` that were uploaded and transcoded in the past:
    /// the first at `first_unix` (vendor Unix seconds), then one every `every_secs`. Returns
    /// their ids, oldest first.
    pub fn baijiayun_add_past_vods(
        &self,
        partner_id: &str,
        count: usize,
        first_unix: u64,
        every_secs: u64,
    ) -> Vec<i64> {
        let mut world = self.world();
        let mut at = first_unix;
        (0..count)
            .map(|_| {
                let id = self.bjy_new_video(
                    &mut world,
                    partner_id,
                    "vod",
                    None,
                    0,
                    TaskOutcome::Success,
                );
                if let Some(v) = world.baijiayun.videos.get_mut(&id) {
                    v.status = 100;
                    v.added_unix = at;
                }
                at += every_secs;
                id
            })
            .collect()
    }

    /// The VOD videos `partner_id` gets from the clock (`new_vod_every_secs`) up to now.
    pub(crate) fn bjy_clock_vods(&self, world: &mut World, partner_id: &str) {
        let Some(every) = self.config().new_vod_every_secs.filter(|e| *e > 0) else {
            return;
        };
        let due = self.clock().elapsed().as_secs() / every;
        let had = world
            .baijiayun
            .clock_vods
            .get(partner_id)
            .copied()
            .unwrap_or(0);
        for _ in had..due {
            self.bjy_new_video(world, partner_id, "vod", None, 2, TaskOutcome::Success);
        }
        world
            .baijiayun
            .clock_vods
            .insert(partner_id.to_owned(), due.max(had));
    }

    /// Sets the traffic `getAccountInfo` reports `partner_id` has used of its monthly package
    /// (`SimConfig::vod_month_flow_limit`).
    pub fn baijiayun_set_used_flow(&self, partner_id: &str, bytes: u64) {
        self.world()
            .baijiayun
            .used_flow
            .insert(partner_id.to_owned(), bytes);
    }

    /// Adds a merged playback (for API 38) and returns its `mixed_playback_id`.
    pub fn baijiayun_add_merged_playback(&self, partner_id: &str) -> i64 {
        let mut world = self.world();
        let id = 900_000 + world.next() as i64;
        world
            .baijiayun
            .merged
            .insert(id, (partner_id.to_owned(), None));
        id
    }

    /// The MD5 of a video's bytes.
    #[must_use]
    pub fn baijiayun_video_md5(&self, video_id: i64) -> Option<String> {
        let world = self.world();
        let v = world.baijiayun.videos.get(&video_id)?;
        world.files.get(&v.file).map(|f| f.md5.clone())
    }

    /// Every simulated Baijiayun video (playbacks, crops, pure videos, VOD).
    #[must_use]
    pub fn baijiayun_tasks(&self) -> Vec<SimVideo> {
        self.world().baijiayun.videos.values().cloned().collect()
    }

    /// From now on, crops and pure videos of `room_id` fail to transcode (status 30).
    pub fn baijiayun_fail_derived_videos_of(&self, room_id: i64) {
        self.world().baijiayun.failing_rooms.insert(room_id);
    }

    /// The vendor loses the pure-video tasks of `room_id`: API 20 answers "纯视频任务不存在"
    /// for them from now on (what a task started under another reading of an id looks like).
    pub fn baijiayun_lose_pure_videos_of(&self, room_id: i64) {
        self.world()
            .baijiayun
            .pure
            .retain(|(room, _), _| *room != room_id);
    }

    /// Billed submissions by `<api>:<key>`.
    #[must_use]
    pub fn baijiayun_submissions(&self) -> BTreeMap<String, u32> {
        self.world().baijiayun.submissions.clone()
    }
}

/// The fields of a callback about `v`, signed with the account's key.
fn callback_fields(
    sim: &Simulator,
    account: &SimAccount,
    v: &SimVideo,
    md5: &str,
    size: u64,
    qid: u64,
) -> HashMap<String, String> {
    let mut f = HashMap::new();
    f.insert("partner_id".to_owned(), account.id.clone());
    f.insert("video_id".into(), v.video_id.to_string());
    f.insert("status".into(), v.status.to_string());
    f.insert("qid".into(), format!("{qid:012}"));
    f.insert("timestamp".into(), sim.clock().unix_secs().to_string());
    f.insert("total_size".into(), size.to_string());
    f.insert("file_md5".into(), md5.to_owned());
    if let (Some(room), Some(session)) = (v.room_id, v.session_id) {
        f.insert("room_id".into(), room.to_string());
        if session != 0 {
            f.insert("session_id".into(), session.to_string());
        }
        f.insert("version".into(), v.version.unwrap_or(0).to_string());
    }
    if v.status == 100 {
        f.insert("length".into(), "600".into());
        f.insert("preface_url".into(), String::new());
        f.insert("origin_definition".into(), "high".into());
        f.insert("now_definition".into(), "low,high".into());
        f.insert("total_transcode_size".into(), (size * 2).to_string());
    }
    if matches!(v.kind, "pure_video" | "merged_pure_video") {
        f.insert("is_from_playback".into(), "1".into());
    }
    let sign = crate::verify::baijiayun_sign(&f, &account.secret);
    f.insert("sign".into(), sign);
    f
}

/// Finishes due videos and fires their callbacks.
pub(crate) fn tick(sim: &Simulator) {
    let step = sim.config().step();
    let now = sim.clock().elapsed();
    let mut due = Vec::new();
    {
        let mut world = sim.world();
        for v in world.baijiayun.videos.values_mut() {
            if v.status == 20 && now.saturating_sub(v.created) >= step * v.steps {
                v.status = match v.outcome {
                    TaskOutcome::Success => 100,
                    TaskOutcome::Failure => 30,
                };
                due.push(v.clone());
            }
        }
    }
    for v in due {
        let Some(account) = sim.account(Vendor::Baijiayun, &v.partner_id) else {
            continue;
        };
        let (md5, size, qid, transcode_url) = {
            let mut world = sim.world();
            let qid = world.next();
            let file = world.files.get(&v.file).cloned();
            (
                file.as_ref().map(|f| f.md5.clone()).unwrap_or_default(),
                file.map_or(0, |f| f.size),
                qid,
                world.baijiayun.callback_urls.get(&v.partner_id).cloned(),
            )
        };
        let fields = callback_fields(sim, &account, &v, &md5, size, qid);
        if let Some(url) = transcode_url {
            let body = CallbackBody::Form(fields.clone().into_iter().collect());
            drop(
                sim.callbacks()
                    .send("baijiayun", &url, body, &TRANSCODE_RETRIES),
            );
        }
        if let (Some(serial), Some(url)) = (&v.serial_number, &account.callback_url) {
            let mut f = fields;
            f.remove("sign");
            f.insert("serial_number".into(), serial.clone());
            f.insert("qid".into(), format!("{:012}", qid + 1_000_000));
            let sign = crate::verify::baijiayun_sign(&f, &account.secret);
            f.insert("sign".into(), sign);
            let body = CallbackBody::Form(f.into_iter().collect());
            drop(
                sim.callbacks()
                    .send("baijiayun", url, body, &DUAL_TEACHER_RETRIES),
            );
        }
    }
}
