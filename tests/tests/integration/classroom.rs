//! The classroom job kinds end to end against the vendor simulator (real HTTP, real
//! signatures, accelerated clock), a real Redis and the API's callback routes: each kind's
//! success path with callbacks and with every callback dropped, each documented failure
//! status, delivery into the `local` profile with the stored bytes checked, and never a vendor
//! task billed twice.

use std::time::Duration;

use creel_core::classroom::PollPolicy;
use creel_core::classroom::UnknownTaskPolicy;
use creel_core::config::Vendor;
use creel_core::{EventType, JobId, JobState, Secret, VendorFailure};
use creel_queue::JobRecord;
use creel_sim::baijiayun::{ClassType, TaskOutcome};
use creel_sim::plaso::PlasoOutcome;
use creel_sim::{FidReading, RunningSim};
use creel_tests::probe::{events_for, wait_for_state};
use creel_tests::stack::Stack;
use creel_tests::vendor_sim::{self, BJY_PARTNER};
use creel_vendors::plaso::model::TransferVideo;
use md5::{Digest, Md5};
use serde_json::{Value, json};

const PLASO_TOKEN: &str = "plaso-callback-token-0123456789";

struct Classroom {
    sim: RunningSim,
    stack: Stack,
}

/// The simulator at 600× (a 60 s vendor step is 100 ms), with Plaso's callback URL and
/// Baijiayun's transcode callback URL pointing at creel's API; a worker polling every
/// 100 ms to 1 s.
async fn start() -> Classroom {
    start_with(|_| {}).await
}

/// Like [`start`], with the test's own changes to the configuration.
async fn start_with(edit: impl FnOnce(&mut creel_core::Config)) -> Classroom {
    start_at(600.0, edit).await
}

/// Like [`start_with`], with the simulator's clock at `speed` times real time.
async fn start_at(speed: f64, edit: impl FnOnce(&mut creel_core::Config)) -> Classroom {
    start_sim_with(speed, |_| {}, edit).await
}

/// Like [`start_at`], with the test's own changes to the simulator's configuration too.
async fn start_sim_with(
    speed: f64,
    edit_sim: impl FnOnce(&mut creel_sim::SimConfig),
    edit: impl FnOnce(&mut creel_core::Config),
) -> Classroom {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let api = format!("http://{}", listener.local_addr().expect("addr"));
    let mut sim_config = vendor_sim::config(speed, None);
    edit_sim(&mut sim_config);
    for a in &mut sim_config.accounts {
        match a.vendor {
            Vendor::Plaso => {
                a.callback_url = Some(format!("{api}/callbacks/plaso/{PLASO_TOKEN}"));
            }
            // Dual-teacher auto-match callbacks go to the account's own callback URL.
            Vendor::Baijiayun => a.callback_url = Some(format!("{api}/callbacks/baijiayun/bjy")),
            Vendor::Weclassroom => {}
        }
    }
    let sim = vendor_sim::start(sim_config).await;
    let mut plaso = vendor_sim::account(&sim, Vendor::Plaso);
    plaso.plaso.callback_token = Some(Secret::new(PLASO_TOKEN));
    let bjy = vendor_sim::account(&sim, Vendor::Baijiayun);
    vendor_sim::baijiayun(&bjy)
        .set_transcode_callback_url(&format!("{api}/callbacks/baijiayun/bjy"))
        .await
        .expect("set the transcode callback URL");
    let wc = vendor_sim::account(&sim, Vendor::Weclassroom);
    let mut stack = Stack::start_on(listener, |cfg| {
        cfg.download.allow_hosts.push("127.0.0.1".into());
        cfg.accounts.insert("plaso".into(), plaso);
        cfg.accounts.insert("bjy".into(), bjy);
        cfg.accounts.insert("wc".into(), wc);
        cfg.classroom.default_poll = PollPolicy {
            first_ms: 100,
            max_ms: 1_000,
            ..PollPolicy::default()
        };
        // Vendor time runs 600x: a callback's own timestamp is ahead of the wall clock.
        cfg.classroom.callback_max_age_secs = 30 * 24 * 3600;
        cfg.worker.default_retry.base_delay = Duration::from_millis(200);
        cfg.worker.default_retry.max_delay = Duration::from_secs(1);
        cfg.worker.default_retry.max_attempts = 20;
        cfg.classroom.unknown_task_wait_ms = 500;
        edit(cfg);
    })
    .await;
    stack.start_worker();
    Classroom { sim, stack }
}

impl Classroom {
    async fn post(&self, kind: &str, account: &str, payload: Value) -> JobId {
        let res = self
            .stack
            .post_job(&json!({"kind": kind, "account": account, "payload": payload}))
            .await;
        let status = res.status();
        let body: Value = res.json().await.expect("json");
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().expect("id").parse().expect("job id")
    }

    async fn ends(&self, id: &JobId, state: JobState) -> JobRecord {
        wait_for_state(&self.stack.queue, id, state, Duration::from_secs(60)).await
    }

    /// The vendor's code and message in the job's one `creel.job.failed` event.
    async fn vendor_failure(&self, rec: &JobRecord) -> VendorFailure {
        let events = events_for(&self.stack.queue, &rec.id).await;
        assert_eq!(events.len(), 1, "one terminal event for {}", rec.id);
        assert_eq!(events[0].event_type, EventType::Failed);
        events[0].data.vendor_failure.clone().unwrap_or_else(|| {
            panic!(
                "no vendor_failure in the event of {}: {:?}",
                rec.id, events[0].data
            )
        })
    }

    fn stored_md5(&self, rec: &JobRecord, i: usize) -> String {
        let key = rec.result.as_ref().expect("result")["stored"][i]["key"]
            .as_str()
            .expect("stored key")
            .to_owned();
        hex::encode(Md5::digest(
            std::fs::read(self.stack.out.path().join(key)).expect("stored file"),
        ))
    }
}

fn deliver() -> Value {
    json!({"profile": "local", "key": "{kind}/{parent}-{index}.mp4"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaso_export_follows_callbacks_delivers_and_never_bills_twice() {
    let c = start().await;
    c.sim.sim.plaso_add_record("rec-ok", PlasoOutcome::Success);
    let id = c
        .post("plaso.export", "plaso", json!({"record_id": "rec-ok", "file_name": "第1课", "convert_mode": "avatar_whiteboard", "deliver": deliver()}))
        .await;
    // A second job asking for the same export adopts the first's task, running or finished
    // (Plaso would answer 22001 while it runs, and bill again after).
    let twin = c
        .post("plaso.export", "plaso", json!({"record_id": "rec-ok", "file_name": "第1课", "convert_mode": "avatar_whiteboard"}))
        .await;
    let rec = c.ends(&id, JobState::Succeeded).await;
    let twin = c.ends(&twin, JobState::Succeeded).await;
    let result = rec.result.clone().expect("result");
    let task = result["task"]["task_id"].as_str().expect("task id");
    assert_eq!(twin.result.expect("twin result")["task"]["task_id"], task);
    assert_eq!(c.sim.sim.plaso_submissions().get("rec-ok"), Some(&1));
    let url = result["outputs"][0]["video_url"]
        .as_str()
        .expect("video url");
    // The result's URL has its signed query redacted: the simulator names the file's MD5.
    let md5 = c.sim.sim.file_md5_of_url(url).expect("a simulated file");
    assert_eq!(
        c.stored_md5(&rec, 0),
        md5,
        "the delivered file is the export"
    );
    let acked = c
        .sim
        .sim
        .deliveries()
        .iter()
        .filter(|d| d.vendor == "plaso" && d.acknowledged)
        .count();
    assert!(acked >= 1, "creel acknowledged Plaso's callback");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaso_export_without_callbacks_polls_to_the_end() {
    let c = start().await;
    c.sim.sim.drop_callbacks(1_000);
    c.sim
        .sim
        .plaso_add_record("rec-quiet", PlasoOutcome::Success);
    let id = c
        .post(
            "plaso.export",
            "plaso",
            json!({"record_id": "rec-quiet", "file_name": "quiet"}),
        )
        .await;
    let rec = c.ends(&id, JobState::Succeeded).await;
    let result = rec.result.expect("result");
    assert!(result["outputs"][0]["video_url"].is_string());
    // Every callback was lost, so Plaso gave up (−3): not a failure, the video is there.
    assert_eq!(result["task"]["status"], -3, "{result}");
    assert_eq!(c.sim.sim.plaso_submissions().get("rec-quiet"), Some(&1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaso_export_failures_are_permanent_with_the_vendors_reason() {
    let c = start().await;
    c.sim
        .sim
        .plaso_add_record("rec-transcode", PlasoOutcome::TranscodeFailed);
    c.sim
        .sim
        .plaso_add_record("rec-upload", PlasoOutcome::UploadFailed);
    c.sim
        .sim
        .plaso_add_record("rec-nocallback", PlasoOutcome::CallbackFailed);
    let transcode = c
        .post(
            "plaso.export",
            "plaso",
            json!({"record_id": "rec-transcode", "file_name": "a"}),
        )
        .await;
    let upload = c
        .post(
            "plaso.export",
            "plaso",
            json!({"record_id": "rec-upload", "file_name": "b"}),
        )
        .await;
    let missing = c
        .post(
            "plaso.export",
            "plaso",
            json!({"record_id": "no-such-record", "file_name": "c"}),
        )
        .await;
    let no_callback = c
        .post(
            "plaso.export",
            "plaso",
            json!({"record_id": "rec-nocallback", "file_name": "d"}),
        )
        .await;
    for (id, reason, origin, code) in [
        (&transcode, "status -1", "task", -1),
        (&upload, "status -2", "task", -2),
        (&missing, "22003", "transfer_video", 22003),
    ] {
        let rec = c.ends(id, JobState::Failed).await;
        let err = rec.last_error.clone().unwrap_or_default();
        assert!(err.contains(reason), "{reason}: {err}");
        assert_eq!(rec.attempts, 1, "a permanent failure is not retried: {err}");
        let failure = c.vendor_failure(&rec).await;
        assert_eq!(failure.vendor, Vendor::Plaso, "{err}");
        assert_eq!(failure.origin, origin, "{err}");
        assert_eq!(failure.code, code, "{err}");
        assert!(!failure.message.is_empty(), "{err}");
    }
    // A lost first callback: Plaso calls again a minute later (vendor time) and creel
    // acknowledges that one.
    c.ends(&no_callback, JobState::Succeeded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baijiayun_vod_trusts_the_signed_callback_and_delivers_with_the_vendors_md5() {
    let c = start().await;
    let ok = c
        .sim
        .sim
        .baijiayun_add_vod(BJY_PARTNER, TaskOutcome::Success);
    let bad = c
        .sim
        .sim
        .baijiayun_add_vod(BJY_PARTNER, TaskOutcome::Failure);
    let id = c
        .post(
            "baijiayun.vod",
            "bjy",
            json!({"video_id": ok, "deliver": deliver()}),
        )
        .await;
    let failed = c
        .post("baijiayun.vod", "bjy", json!({"video_id": bad}))
        .await;
    let rec = c.ends(&id, JobState::Succeeded).await;
    let md5 = c.sim.sim.baijiayun_video_md5(ok).expect("md5");
    assert_eq!(
        rec.result.as_ref().expect("result")["outputs"][0]["file_md5"],
        md5.as_str()
    );
    assert_eq!(c.stored_md5(&rec, 0), md5);
    let rec = c.ends(&failed, JobState::Failed).await;
    assert!(
        rec.last_error
            .clone()
            .unwrap_or_default()
            .contains("status 30")
    );
    let failure = c.vendor_failure(&rec).await;
    assert_eq!(
        (
            failure.vendor.as_str(),
            failure.origin.as_str(),
            failure.code
        ),
        ("baijiayun", "task", 30)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baijiayun_vod_without_callbacks_polls_status_then_info() {
    let c = start().await;
    c.sim.sim.drop_callbacks(1_000);
    let video = c
        .sim
        .sim
        .baijiayun_add_vod(BJY_PARTNER, TaskOutcome::Success);
    let id = c
        .post("baijiayun.vod", "bjy", json!({"video_id": video}))
        .await;
    let rec = c.ends(&id, JobState::Succeeded).await;
    let md5 = c.sim.sim.baijiayun_video_md5(video).expect("md5");
    assert_eq!(
        rec.result.expect("result")["outputs"][0]["file_md5"],
        md5.as_str()
    );
}

/// #18: a step cut short between two vendor calls re-ran the first (60 `baijiayun.vod` jobs
/// made 276 calls where 240 suffice). getStatus's "transcoded" is kept: after a failed getInfo
/// the retried step asks getInfo only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_poll_does_not_ask_again_what_it_already_knows() {
    let c = start().await;
    c.sim.sim.drop_callbacks(1_000);
    let video = c
        .sim
        .sim
        .baijiayun_add_vod(BJY_PARTNER, TaskOutcome::Success);
    vendor_sim::eventually("the video transcodes", Duration::from_secs(10), || async {
        c.sim
            .sim
            .baijiayun_tasks()
            .iter()
            .any(|v| v.video_id == video && v.status == 100)
            .then_some(())
    })
    .await;
    c.sim.sim.inject(creel_sim::Fault {
        vendor: "baijiayun".into(),
        endpoint: "/openapi/video/getInfo".into(),
        kind: creel_sim::FaultKind::Status { status: 500 },
        count: 1,
    });
    let id = c
        .post("baijiayun.vod", "bjy", json!({"video_id": video}))
        .await;
    let rec = c.ends(&id, JobState::Succeeded).await;
    let calls = |path: &str| {
        c.sim
            .sim
            .requests()
            .iter()
            .filter(|r| r.path.ends_with(path))
            .filter(|r| r.params["video_id"].as_str() == Some(video.to_string().as_str()))
            .count()
    };
    assert_eq!(calls("/video/getInfo"), 2, "one failed, one answered");
    assert_eq!(calls("/video/getStatus"), 1, "{rec:?}");
}

async fn ready_playback(c: &Classroom, room: i64, class: ClassType) {
    ready_playbacks(c, room, &[0], class).await;
}

/// Adds a playback of `room` for each of `sessions` and waits (60 s at most: the vendor clock
/// may be slow) until all are transcoded.
async fn ready_playbacks(c: &Classroom, room: i64, sessions: &[i64], class: ClassType) {
    for session in sessions {
        c.sim
            .sim
            .baijiayun_add_playback(BJY_PARTNER, room, *session, class, None);
    }
    vendor_sim::eventually(
        "the playbacks transcode",
        Duration::from_secs(60),
        || async {
            let ready = c
                .sim
                .sim
                .baijiayun_tasks()
                .iter()
                .filter(|v| v.room_id == Some(room) && v.kind == "playback" && v.status == 100)
                .count();
            (ready == sessions.len()).then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baijiayun_crop_persists_every_segment_and_delivers_them_all() {
    let c = start().await;
    ready_playback(&c, 7001, ClassType::WebrtcLargeClass).await;
    let named = c
        .post(
            "baijiayun.crop",
            "bjy",
            json!({"room_id": 7001, "segments": [
            {"start_time": 0, "end_time": 120, "name": "intro"},
            {"start_time": 120, "end_time": 400, "name": "lesson"}], "deliver": deliver()}),
        )
        .await;
    let rec = c.ends(&named, JobState::Succeeded).await;
    let result = rec.result.clone().expect("result");
    let outputs = result["outputs"].as_array().expect("outputs");
    assert_eq!(outputs.len(), 2);
    assert_eq!(outputs[1]["name"], "lesson");
    for (i, o) in outputs.iter().enumerate() {
        let video = o["video_id"].as_i64().expect("video id");
        assert_eq!(
            c.stored_md5(&rec, i),
            c.sim.sim.baijiayun_video_md5(video).expect("md5")
        );
    }
    let fixed = c
        .post(
            "baijiayun.crop",
            "bjy",
            json!({"room_id": 7001, "length_per_segment": 300}),
        )
        .await;
    let rec = c.ends(&fixed, JobState::Succeeded).await;
    assert_eq!(
        rec.result.expect("result")["outputs"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    let bills = c.sim.sim.baijiayun_submissions();
    assert_eq!(bills.get("batch_crop:7001:0"), Some(&1), "{bills:?}");
    assert_eq!(bills.get("segment_crop:7001:0"), Some(&1), "{bills:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baijiayun_pure_video_of_a_playback_and_of_a_merged_playback() {
    let c = start().await;
    ready_playback(&c, 7002, ClassType::LargeClass).await;
    let one = c
        .post(
            "baijiayun.pure_video",
            "bjy",
            json!({"room_id": 7002, "deliver": deliver()}),
        )
        .await;
    let merged_id = c.sim.sim.baijiayun_add_merged_playback(BJY_PARTNER);
    let merged = c
        .post(
            "baijiayun.pure_video",
            "bjy",
            json!({"mixed_playback_id": merged_id}),
        )
        .await;
    let rec = c.ends(&one, JobState::Succeeded).await;
    let url = rec.result.as_ref().expect("result")["outputs"][0]["url"]
        .as_str()
        .expect("url")
        .to_owned();
    let md5 = c.sim.sim.file_md5_of_url(&url).expect("a simulated file");
    assert_eq!(c.stored_md5(&rec, 0), md5);
    let rec = c.ends(&merged, JobState::Succeeded).await;
    assert!(rec.result.expect("result")["outputs"][0]["url"].is_string());
    let bills = c.sim.sim.baijiayun_submissions();
    assert_eq!(bills.get("pure_video:7002:0"), Some(&1), "{bills:?}");
}

/// #18: API 19's `success_fids` are "source video fids" by the document's words and session
/// ids by its example. Under either reading the room's every session is followed to its pure
/// video (resolved through API 2), never polled as a task that does not exist.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baijiayun_pure_video_of_every_session_under_either_reading_of_success_fids() {
    for reading in [FidReading::SessionIds, FidReading::VideoIds] {
        let c = start_sim_with(600.0, |s| s.success_fids = reading, |_| {}).await;
        let room = 7101;
        ready_playbacks(&c, room, &[201, 202], ClassType::LargeClass).await;
        let id = c
            .post(
                "baijiayun.pure_video",
                "bjy",
                json!({"room_id": room, "every_session": true, "deliver": deliver()}),
            )
            .await;
        let rec = c.ends(&id, JobState::Succeeded).await;
        let result = rec.result.clone().expect("result");
        let mut sessions: Vec<i64> = result["outputs"]
            .as_array()
            .expect("outputs")
            .iter()
            .map(|o| o["session_id"].as_i64().expect("session id"))
            .collect();
        sessions.sort_unstable();
        assert_eq!(sessions, vec![201, 202], "{reading:?}: {result}");
        let missing = c
            .sim
            .sim
            .requests()
            .iter()
            .filter(|r| r.path.ends_with("getPureVideoUrl") && r.outcome != "ok")
            .filter(|r| {
                r.params["session_id"]
                    .as_str()
                    .is_some_and(|s| s != "201" && s != "202")
            })
            .count();
        assert_eq!(
            missing, 0,
            "{reading:?}: API 20 was asked for a session that is not one"
        );
        let bills = c.sim.sim.baijiayun_submissions();
        assert_eq!(
            bills.get(&format!("room_pure_video:{room}:201")),
            Some(&1),
            "{bills:?}"
        );
        assert_eq!(
            bills.get(&format!("room_pure_video:{room}:202")),
            Some(&1),
            "{bills:?}"
        );
    }
}

/// #18: API 20's "纯视频任务不存在" (does not exist) is not "generating": within the grace
/// period it is taken as not listed yet, after it the job fails naming API 20's answer
/// instead of polling to its 24 h deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pure_video_task_that_does_not_exist_fails_after_the_grace_period() {
    // A slow vendor clock: the pure video would take minutes, so it is lost before it is done.
    let c = start_sim_with(
        60.0,
        |_| {},
        |cfg| cfg.classroom.pure_video_missing_grace_secs = 2,
    )
    .await;
    let room = 7102;
    ready_playback(&c, room, ClassType::LargeClass).await;
    let id = c
        .post("baijiayun.pure_video", "bjy", json!({"room_id": room}))
        .await;
    // (The limiter's cold start holds the account's first call for one quota window.)
    vendor_sim::eventually("API 16 is called", Duration::from_secs(40), || async {
        c.sim
            .sim
            .baijiayun_submissions()
            .contains_key(&format!("pure_video:{room}:0"))
            .then_some(())
    })
    .await;
    c.sim.sim.baijiayun_lose_pure_videos_of(room);
    let rec = c.ends(&id, JobState::Failed).await;
    let failure = c.vendor_failure(&rec).await;
    assert_eq!(failure.code, 1, "{failure:?}");
    assert!(
        failure.message.contains("不存在")
            && failure.message.contains("pure_video_missing_grace_secs"),
        "{failure:?}"
    );
    let bills = c.sim.sim.baijiayun_submissions();
    assert_eq!(
        bills.get(&format!("pure_video:{room}:0")),
        Some(&1),
        "never started twice: {bills:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weclassroom_replay_is_delivered() {
    let c = start().await;
    c.sim.sim.weclassroom_add_lesson(5001, &[]);
    let id = c
        .post(
            "weclassroom.replay",
            "wc",
            json!({"lesson_id": 5001, "deliver": deliver()}),
        )
        .await;
    let rec = c.ends(&id, JobState::Succeeded).await;
    assert_eq!(
        c.stored_md5(&rec, 0),
        c.sim.sim.weclassroom_replay_md5(5001).expect("md5")
    );
    let missing = c
        .post("weclassroom.replay", "wc", json!({"lesson_id": 404}))
        .await;
    let rec = c.ends(&missing, JobState::Failed).await;
    assert!(rec.last_error.clone().unwrap_or_default().contains("40003"));
    let failure = c.vendor_failure(&rec).await;
    assert_eq!(
        (failure.vendor.as_str(), failure.code),
        ("weclassroom", 40003)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_and_forged_callbacks_are_refused() {
    let c = start().await;
    for (kind, account, payload, field) in [
        (
            "plaso.export",
            "bjy",
            json!({"record_id": "r", "file_name": "f"}),
            "account",
        ),
        (
            "plaso.export",
            "plaso",
            json!({"record_id": "r", "file_name": "f", "frame_rate": 5}),
            "payload.frame_rate",
        ),
        (
            "baijiayun.crop",
            "bjy",
            json!({"room_id": 1, "segments": []}),
            "payload.segments",
        ),
        (
            "baijiayun.pure_video",
            "bjy",
            json!({"room_id": 1, "mixed_playback_id": 2}),
            "payload.room_id",
        ),
        (
            "baijiayun.vod",
            "bjy",
            json!({"video_id": 1, "deliver": {"profile": "nope"}}),
            "payload.deliver.profile",
        ),
    ] {
        let res = c
            .stack
            .post_job(&json!({"kind": kind, "account": account, "payload": payload}))
            .await;
        assert_eq!(res.status(), 422, "{kind} {payload}");
        let body: Value = res.json().await.expect("json");
        assert_eq!(body["field"], field, "{body}");
    }
    let http = reqwest::Client::new();
    let forged = http
        .post(format!("{}/callbacks/baijiayun/bjy", c.stack.api))
        .form(&[
            ("video_id", "1"),
            ("status", "100"),
            ("qid", "1"),
            ("timestamp", "1"),
            ("sign", "0000"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(forged.status(), 400);
    let wrong_token = http
        .post(format!("{}/callbacks/plaso/not-the-token", c.stack.api))
        .json(&json!({"taskId": "t", "status": 99}))
        .send()
        .await
        .expect("post");
    assert_eq!(wrong_token.status(), 404);
}

/// Auto-archive: a transcode callback for a listed room archives the video itself; a
/// dual-teacher auto-match archives the playback's pure video; an unlisted room gets nothing;
/// and each lesson is archived once however many callbacks arrive about it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_archive_rules_turn_callbacks_into_delivered_archives() {
    use creel_core::classroom::{ArchiveProduct, ArchiveTrigger, AutoArchiveRule};
    let c = start_with(|cfg| {
        cfg.classroom.auto_archive = vec![
            AutoArchiveRule {
                account: "bjy".into(),
                on: ArchiveTrigger::Transcode,
                room_ids: vec![7100],
                produce: ArchiveProduct::Vod,
                profile: "local".into(),
                key: Some("auto/{parent}.mp4".into()),
                owner: "auto-archive".into(),
            },
            AutoArchiveRule {
                account: "bjy".into(),
                on: ArchiveTrigger::AutoMatch,
                room_ids: Vec::new(),
                produce: ArchiveProduct::PureVideo,
                profile: "local".into(),
                key: Some("dual/{parent}.mp4".into()),
                owner: "auto-archive".into(),
            },
        ];
    })
    .await;
    c.sim
        .sim
        .baijiayun_add_playback(BJY_PARTNER, 7100, 0, ClassType::LargeClass, None);
    c.sim
        .sim
        .baijiayun_add_playback(BJY_PARTNER, 7300, 0, ClassType::LargeClass, None);
    c.sim
        .sim
        .baijiayun_add_playback(BJY_PARTNER, 7200, 0, ClassType::LargeClass, Some("dual-1"));
    let archived = vendor_sim::eventually(
        "two archive jobs succeed",
        Duration::from_secs(60),
        || async {
            let page = c
                .stack
                .queue
                .list("default", JobState::Succeeded, None, 100)
                .await
                .expect("list");
            let parents: Vec<JobRecord> = page
                .jobs
                .into_iter()
                .filter(|j| j.created_by.as_deref() == Some("auto-archive") && j.parent.is_none())
                .collect();
            (parents.len() == 2).then_some(parents)
        },
    )
    .await;
    let vod = archived
        .iter()
        .find(|j| j.kind == "baijiayun.vod")
        .expect("the vod archive");
    let video = vod.payload["video_id"].as_i64().expect("video id");
    assert_eq!(
        c.stored_md5(vod, 0),
        c.sim.sim.baijiayun_video_md5(video).expect("md5")
    );
    let pure = archived
        .iter()
        .find(|j| j.kind == "baijiayun.pure_video")
        .expect("the pure-video archive");
    assert_eq!(pure.payload["room_id"], 7200);
    let stored = &pure.result.as_ref().expect("result")["stored"][0]["key"];
    assert!(
        stored.as_str().is_some_and(|k| k.starts_with("dual/")),
        "{stored}"
    );
    // Nothing for room 7300, and nothing twice.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut all = Vec::new();
    for state in [
        JobState::Scheduled,
        JobState::Ready,
        JobState::Running,
        JobState::Succeeded,
        JobState::Failed,
    ] {
        all.extend(
            c.stack
                .queue
                .list("default", state, None, 100)
                .await
                .expect("list")
                .jobs
                .into_iter()
                .filter(|j| j.created_by.as_deref() == Some("auto-archive") && j.parent.is_none()),
        );
    }
    assert_eq!(
        all.len(),
        2,
        "{:?}",
        all.iter()
            .map(|j| (&j.kind, &j.payload))
            .collect::<Vec<_>>()
    );
}

/// Cancelling a job that waits on its deliveries cancels the deliveries too (the children are
/// linked to their parent), and the parent ends cancelled, not failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_parent_cancels_its_deliveries() {
    let c = start().await;
    // Every file download answers 503 for a while, so the delivery keeps waiting to retry.
    c.sim.sim.inject(creel_sim::Fault {
        vendor: "files".into(),
        endpoint: "*".into(),
        kind: creel_sim::FaultKind::Status { status: 503 },
        count: 1_000,
    });
    let video = c
        .sim
        .sim
        .baijiayun_add_vod(BJY_PARTNER, TaskOutcome::Success);
    let id = c
        .post(
            "baijiayun.vod",
            "bjy",
            json!({"video_id": video, "deliver": deliver()}),
        )
        .await;
    let waiting = vendor_sim::eventually(
        "the job waits on its delivery",
        Duration::from_secs(30),
        || async {
            let rec = c.stack.queue.get(&id).await.expect("get").expect("job");
            (rec.step.as_deref() == Some("deliver")).then_some(rec)
        },
    )
    .await;
    let children = c.stack.queue.children(&id).await.expect("children");
    assert_eq!(children.len(), 1, "{waiting:?}");
    let res = c.stack.cancel_job(&id).await;
    assert!(res.status().is_success(), "{}", res.status());
    c.ends(&id, JobState::Cancelled).await;
    c.ends(&children[0], JobState::Cancelled).await;
}

/// A classroom job cancelled while its vendor task runs stops at its step boundary; no vendor
/// lets creel cancel a task, so the job record names the task as abandoned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_export_records_its_vendor_task_as_abandoned() {
    // 60x: each Plaso status lasts a second, time enough to cancel mid-task.
    let c = start_at(60.0, |_| {}).await;
    c.sim
        .sim
        .plaso_add_record("rec-cancelled", PlasoOutcome::Success);
    let id = c
        .post(
            "plaso.export",
            "plaso",
            json!({"record_id": "rec-cancelled", "file_name": "x"}),
        )
        .await;
    let task_id = vendor_sim::eventually(
        "the export is submitted",
        Duration::from_secs(30),
        || async {
            let rec = c.stack.queue.get(&id).await.expect("get").expect("job");
            rec.checkpoint
                .and_then(|cp| cp["task"]["task_id"].as_str().map(str::to_owned))
        },
    )
    .await;
    let res = c.stack.cancel_job(&id).await;
    assert!(res.status().is_success(), "{}", res.status());
    c.ends(&id, JobState::Cancelled).await;
    let cleanup = vendor_sim::eventually(
        "the abandoned task is recorded",
        Duration::from_secs(20),
        || async {
            c.stack
                .queue
                .get(&id)
                .await
                .expect("get")
                .expect("job")
                .cleanup
        },
    )
    .await;
    let abandoned = &cleanup["abandoned_vendor_task"];
    assert_eq!(abandoned["vendor"], "plaso", "{cleanup}");
    assert_eq!(abandoned["task"]["task_id"], task_id.as_str(), "{cleanup}");
    assert_eq!(c.sim.sim.plaso_submissions().get("rec-cancelled"), Some(&1));
}

/// With every callback lost, crops and pure videos finish by polling alone (API 10, API 20).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baijiayun_crop_and_pure_video_without_callbacks_poll_to_the_end() {
    let c = start().await;
    ready_playback(&c, 7401, ClassType::WebrtcLargeClass).await;
    ready_playback(&c, 7402, ClassType::LargeClass).await;
    // The two playbacks' own callbacks are logged once answered; wait for them first.
    let before = vendor_sim::eventually(
        "the playback callbacks are logged",
        Duration::from_secs(10),
        || async {
            let d = c.sim.sim.deliveries();
            (d.iter().filter(|d| d.acknowledged).count() >= 2).then_some(d.len())
        },
    )
    .await;
    c.sim.sim.drop_callbacks(1_000);
    let crop = c
        .post(
            "baijiayun.crop",
            "bjy",
            json!({"room_id": 7401, "length_per_segment": 200}),
        )
        .await;
    let pure = c
        .post("baijiayun.pure_video", "bjy", json!({"room_id": 7402}))
        .await;
    let rec = c.ends(&crop, JobState::Succeeded).await;
    assert_eq!(
        rec.result.expect("result")["outputs"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );
    let rec = c.ends(&pure, JobState::Succeeded).await;
    assert!(rec.result.expect("result")["outputs"][0]["url"].is_string());
    assert!(
        c.sim.sim.deliveries()[before..].iter().all(|d| d.dropped),
        "no callback got through"
    );
}

/// A crop segment or a pure video that fails to transcode (status 30 in the signed callback,
/// or in API 10 for a crop) fails its job for good, naming the status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baijiayun_crop_and_pure_video_failures_are_permanent() {
    let c = start().await;
    ready_playback(&c, 7501, ClassType::LargeClass).await;
    c.sim.sim.baijiayun_fail_derived_videos_of(7501);
    let crop = c
        .post(
            "baijiayun.crop",
            "bjy",
            json!({"room_id": 7501, "segments": [{"start_time": 0, "end_time": 60, "name": "x"}]}),
        )
        .await;
    let pure = c
        .post("baijiayun.pure_video", "bjy", json!({"room_id": 7501}))
        .await;
    for id in [&crop, &pure] {
        let rec = c.ends(id, JobState::Failed).await;
        let err = rec.last_error.clone().unwrap_or_default();
        assert!(err.contains("status 30"), "{}: {err}", rec.kind);
        assert_eq!(rec.attempts, 1, "{err}");
        let failure = c.vendor_failure(&rec).await;
        assert_eq!(
            (failure.origin.as_str(), failure.code),
            ("task", 30),
            "{err}"
        );
    }
}

/// Plaso answers 22001 while an export creel did not start runs on the record. Under
/// `plaso_unknown_task = "fail"` the job fails with the vendor's code; under `wait` it asks
/// again later and exports once the other task is over. Neither submits beside it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaso_22001_for_a_task_creel_did_not_start_follows_the_configured_policy() {
    for policy in [UnknownTaskPolicy::Fail, UnknownTaskPolicy::Wait] {
        // 60x: the other export runs for seconds, not a few hundred milliseconds.
        let c = start_at(60.0, |cfg| cfg.classroom.plaso_unknown_task = policy).await;
        // A fresh limiter holds the first call back one quota window (it cannot know what
        // was sent before): one export first, so creel's next call goes at once, while the
        // other export still runs.
        c.sim
            .sim
            .plaso_add_record("rec-warm", PlasoOutcome::Success);
        let warm = c
            .post(
                "plaso.export",
                "plaso",
                json!({"record_id": "rec-warm", "file_name": "w"}),
            )
            .await;
        c.ends(&warm, JobState::Succeeded).await;
        c.sim
            .sim
            .plaso_add_record("rec-foreign", PlasoOutcome::Success);
        let theirs = TransferVideo {
            file_name: "theirs".into(),
            record_id: "rec-foreign".into(),
            convert_mode: None,
            resolution: None,
            video_bitrate: None,
            audio_bitrate: None,
            frame_rate: None,
        };
        vendor_sim::plaso(&vendor_sim::account(&c.sim, Vendor::Plaso))
            .transfer_video(&theirs)
            .await
            .expect("an export creel does not know of");
        let id = c
            .post(
                "plaso.export",
                "plaso",
                json!({"record_id": "rec-foreign", "file_name": "ours"}),
            )
            .await;
        let busy = || {
            c.sim
                .sim
                .requests()
                .iter()
                .filter(|r| r.path.ends_with("transferVideo") && r.outcome == "22001")
                .count()
        };
        match policy {
            UnknownTaskPolicy::Fail => {
                let rec = c.ends(&id, JobState::Failed).await;
                let failure = c.vendor_failure(&rec).await;
                assert_eq!(
                    (failure.origin.as_str(), failure.code),
                    ("transfer_video", 22001)
                );
                assert_eq!(busy(), 1);
                assert_eq!(c.sim.sim.plaso_submissions().get("rec-foreign"), Some(&1));
            }
            UnknownTaskPolicy::Wait => {
                c.ends(&id, JobState::Succeeded).await;
                assert!(busy() >= 1, "creel asked while the other export ran");
                // The other export, then creel's own once the record was free.
                assert_eq!(c.sim.sim.plaso_submissions().get("rec-foreign"), Some(&2));
            }
        }
    }
}

/// A lesson without a replay: API 24 answers 40004 and API 18 says whether to wait. A lesson
/// in class is asked for again until it ends and its replay is delivered; an expired one
/// fails at once with the lesson's status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weclassroom_replay_waits_for_the_lesson_and_fails_for_an_expired_one() {
    let c = start().await;
    c.sim.sim.weclassroom_add_lesson_without_replay(5201, 1);
    c.sim.sim.weclassroom_add_lesson_without_replay(5202, 3);
    let waiting = c
        .post(
            "weclassroom.replay",
            "wc",
            json!({"lesson_id": 5201, "deliver": deliver()}),
        )
        .await;
    let expired = c
        .post("weclassroom.replay", "wc", json!({"lesson_id": 5202}))
        .await;
    let rec = c.ends(&expired, JobState::Failed).await;
    let failure = c.vendor_failure(&rec).await;
    assert_eq!(
        (
            failure.vendor.as_str(),
            failure.origin.as_str(),
            failure.code
        ),
        ("weclassroom", "lesson_status", 3)
    );
    vendor_sim::eventually(
        "the job reports the lesson in class",
        Duration::from_secs(30),
        || async {
            let rec = c
                .stack
                .queue
                .get(&waiting)
                .await
                .expect("get")
                .expect("job");
            rec.progress
                .filter(|p| p["vendor"]["lesson_status"] == 1)
                .map(|_| ())
        },
    )
    .await;
    c.sim.sim.weclassroom_finish_lesson(5201);
    let rec = c.ends(&waiting, JobState::Succeeded).await;
    assert_eq!(
        c.stored_md5(&rec, 0),
        c.sim.sim.weclassroom_replay_md5(5201).expect("md5")
    );
}

/// WeClassroom server recordings (API 21) of named users are delivered from their URLs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weclassroom_server_recordings_are_delivered() {
    let c = start().await;
    c.sim.sim.weclassroom_add_lesson(5101, &[11, 12]);
    let id = c
        .post(
            "weclassroom.replay",
            "wc",
            json!({"lesson_id": 5101, "server_recordings_of": [11, 12], "deliver": deliver()}),
        )
        .await;
    let rec = c.ends(&id, JobState::Succeeded).await;
    let result = rec.result.clone().expect("result");
    let outputs = result["outputs"].as_array().expect("outputs");
    assert_eq!(outputs.len(), 2, "{result}");
    for (i, o) in outputs.iter().enumerate() {
        let md5 = c
            .sim
            .sim
            .file_md5_of_url(o["url"].as_str().expect("url"))
            .expect("a simulated file");
        assert_eq!(c.stored_md5(&rec, i), md5);
    }
}

/// Forged Plaso callbacks (every documented status for a running task, each sent repeatedly)
/// cannot spend the job's status-call budget: the checks they trigger are spaced by
/// `classroom.callback_check_min_interval_ms` and counted apart, and the job keeps running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callbacks_cannot_spend_a_jobs_status_call_budget() {
    let c = start_at(1.0, |cfg| {
        cfg.classroom.default_poll = PollPolicy {
            first_ms: 60_000,
            max_ms: 60_000,
            max_status_calls: 2,
            ..PollPolicy::default()
        };
        cfg.classroom.callback_check_min_interval_ms = 1_000;
    })
    .await;
    c.sim.sim.drop_callbacks(1_000);
    c.sim
        .sim
        .plaso_add_record("rec-slow", PlasoOutcome::Success);
    let id = c
        .post(
            "plaso.export",
            "plaso",
            json!({"record_id": "rec-slow", "file_name": "slow"}),
        )
        .await;
    let task = vendor_sim::eventually("the task id", Duration::from_secs(20), || async {
        let rec = c.stack.queue.get(&id).await.expect("get").expect("job");
        rec.checkpoint
            .as_ref()
            .and_then(|cp| cp["task"]["task_id"].as_str().map(str::to_owned))
    })
    .await;
    let started = std::time::Instant::now();
    let mut sent = 0;
    while started.elapsed() < Duration::from_secs(3) {
        for status in [0, 1, 2, 3, 99, -1, -2, -3] {
            let res = c
                .stack
                .http
                .post(format!("{}/callbacks/plaso/{PLASO_TOKEN}", c.stack.api))
                .json(&json!({"taskId": task, "status": status.to_string()}))
                .send()
                .await
                .expect("callback");
            assert_eq!(res.status(), 200);
            sent += 1;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rec = c.stack.queue.get(&id).await.expect("get").expect("job");
    assert!(
        !rec.state.is_terminal(),
        "{sent} callbacks did not end the job: {rec:?}"
    );
    let cp = rec.checkpoint.expect("checkpoint");
    let checks = cp["callback_checks"].as_u64().unwrap_or(0);
    assert!(
        (1..=5).contains(&checks),
        "{sent} callbacks made {checks} checks in ~3.5 s (at most one a second)"
    );
    assert!(
        cp["status_calls"].as_u64().unwrap_or(0) < 2,
        "callback checks are not counted against max_status_calls: {cp}"
    );
    assert_eq!(c.stack.cancel_job(&id).await.status(), 200);
}
