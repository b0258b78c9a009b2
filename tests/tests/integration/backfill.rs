//! Backfill: an `archive.scan` of a Baijiayun account with 300 past VOD lessons (and new ones
//! arriving on the simulator's clock while it pages) archives every lesson in its window into
//! the storage profile exactly once, across two worker processes killed with SIGKILL mid-way
//! and restarted, never more than `max_in_flight` jobs ahead of the workers; a second scan of
//! the same window enqueues nothing, and a dry run before and after says what is left.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use creel_core::config::Vendor;
use creel_core::{JobId, JobRequest, JobState};
use creel_jobs::archive::{ArchiveScanSpec, LessonSource};
use creel_jobs::classroom::Deliver;
use creel_queue::Queue;
use creel_queue::embedded::RedisServer;
use creel_tests::probe::wait_for_state;
use creel_tests::vendor_sim::{self, BJY_KEY, BJY_PARTNER};
use creel_tests::worker_processes::{WorkerProcesses, config_head};
use md5::{Digest, Md5};
use serde_json::Value;

const LESSONS: usize = 300;
const MAX_IN_FLIGHT: usize = 12;

async fn scan(queue: &Queue, spec: &ArchiveScanSpec) -> JobId {
    let mut r = JobRequest::new("archive.scan", serde_json::to_value(spec).expect("payload"));
    r.account = Some("bjy".into());
    r.created_by = Some("backfill".into());
    queue.enqueue(r).await.expect("enqueue").id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_archives_every_lesson_once_across_a_kill_and_a_second_run_adds_none() {
    let redis = RedisServer::start().expect("redis");
    let mut sim_config = vendor_sim::config(600.0, None);
    sim_config.video_bytes = 16 << 10;
    // A new lesson every vendor 10 minutes (a real second): they land on the first page while
    // the scan walks the list, and after its window.
    sim_config.new_vod_every_secs = Some(600);
    let sim = vendor_sim::start(sim_config).await;
    let now = chrono::Utc::now();
    let first = u64::try_from(now.timestamp()).expect("now") - 20 * 86_400;
    let videos = sim
        .sim
        .baijiayun_add_past_vods(BJY_PARTNER, LESSONS, first, 3_600);
    // A lesson before the window, which the scans must leave alone.
    let too_old = sim
        .sim
        .baijiayun_add_past_vods(BJY_PARTNER, 1, first - 40 * 86_400, 0);
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("archive");
    std::fs::create_dir_all(&out).expect("out dir");
    let config_file = dir.path().join("creel.toml");
    std::fs::write(
        &config_file,
        format!(
            r#"{head}[download]
allow_hosts = ["127.0.0.1"]
[classroom.default_poll]
first_ms = 50
max_ms = 400
[archive]
max_in_flight = {MAX_IN_FLIGHT}
page_size = 50
[storage.archive]
type = "dir"
path = "{out}"
[accounts.bjy]
vendor = "baijiayun"
id = "{BJY_PARTNER}"
secret = "{BJY_KEY}"
base_url = "{bjy}"
quota = {{ requests = 400, window_ms = 1000 }}
"#,
            head = config_head(&redis.url(), 8),
            out = out.display(),
            bjy = sim.vendor_base(Vendor::Baijiayun),
        ),
    )
    .expect("config");
    let config = Arc::new(creel::settings::load(Some(&config_file)).expect("config loads"));
    let queue = Queue::connect(creel::settings::queue_config(&config))
        .await
        .expect("queue");
    let calendar = creel_core::UsageCalendar::new(config.costs.utc_offset_minutes);
    let spec = ArchiveScanSpec {
        source: LessonSource::BaijiayunVod,
        since: calendar.format_time(now - chrono::Duration::days(30)),
        until: Some(calendar.format_time(now)),
        record_ids: Vec::new(),
        deliver: Deliver {
            profile: "archive".into(),
            key: Some("bjy/{lesson}.mp4".into()),
        },
        max_in_flight: None,
    };

    // What a dry run sees first: every lesson of the window, with its traffic.
    let before = creel::archive_cli::dry_run(&config, &queue, "bjy", &spec)
        .await
        .expect("dry run");
    assert_eq!(before.lessons.len(), LESSONS);
    assert_eq!(before.already_archived, 0);
    assert_eq!(
        before.estimated_traffic_bytes,
        (LESSONS as u64) * (16 << 10)
    );

    let first_scan = scan(&queue, &spec).await;
    let mut workers =
        WorkerProcesses::new(Path::new(env!("CARGO_BIN_EXE_creel-worker")), &config_file);
    workers.spawn();
    workers.spawn();
    let mut killed = false;
    let mut most_in_flight = 0;
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let rec = queue.get(&first_scan).await.expect("get").expect("scan");
        let children = queue.children(&first_scan).await.expect("children");
        let mut unfinished = 0;
        for c in &children {
            if let Some(r) = queue.get(c).await.expect("child") {
                unfinished += usize::from(!r.state.is_terminal());
            }
        }
        most_in_flight = most_in_flight.max(unfinished);
        let enqueued = rec
            .checkpoint
            .as_ref()
            .and_then(|c| c["enqueued"].as_u64())
            .unwrap_or(0);
        if !killed && enqueued >= 100 {
            // Both workers die mid-scan (its step, deliveries in flight) and come back.
            workers.kill_one(0);
            workers.kill_one(0);
            workers.spawn();
            workers.spawn();
            killed = true;
        }
        if rec.state.is_terminal() && unfinished == 0 && killed {
            assert_eq!(rec.state, JobState::Succeeded, "{:?}", rec.last_error);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the backfill did not finish: scan {:?} {:?}, {} children, {unfinished} unfinished\n{}",
            rec.state,
            rec.checkpoint
                .as_ref()
                .map(|c| (&c["page"], &c["enqueued"], &c["already"])),
            children.len(),
            workers.log()
        );
    }
    assert!(
        most_in_flight <= MAX_IN_FLIGHT,
        "{most_in_flight} archive jobs were unfinished at once"
    );

    // Every lesson of the window archived once, with the vendor's bytes; none outside it.
    let children = queue.children(&first_scan).await.expect("children");
    assert_eq!(children.len(), LESSONS, "one archive job per lesson");
    let mut archived = BTreeSet::new();
    for c in &children {
        let rec = wait_for_state(&queue, c, JobState::Succeeded, Duration::from_secs(30)).await;
        assert_eq!(rec.kind, "baijiayun.vod");
        assert!(archived.insert(rec.payload["video_id"].as_i64().expect("video id")));
    }
    let expected: BTreeSet<i64> = videos.iter().copied().collect();
    assert_eq!(archived, expected);
    for v in &videos {
        let stored = std::fs::read(out.join(format!("bjy/{v}.mp4"))).expect("archived file");
        let md5 = sim.sim.baijiayun_video_md5(*v).expect("md5");
        assert_eq!(hex::encode(Md5::digest(&stored)), md5, "lesson {v}");
    }
    assert!(!out.join(format!("bjy/{}.mp4", too_old[0])).exists());
    let files = std::fs::read_dir(out.join("bjy")).expect("dir").count();
    assert_eq!(files, LESSONS, "exactly the window's lessons are stored");

    // A second run of the same window enqueues nothing.
    let second_scan = scan(&queue, &spec).await;
    let rec = wait_for_state(
        &queue,
        &second_scan,
        JobState::Succeeded,
        Duration::from_secs(60),
    )
    .await;
    let result: &Value = rec.result.as_ref().expect("result");
    assert_eq!(result["enqueued"], 0, "{result}");
    assert_eq!(result["already_archived"], LESSONS, "{result}");
    assert!(
        queue
            .children(&second_scan)
            .await
            .expect("children")
            .is_empty()
    );
    let after = creel::archive_cli::dry_run(&config, &queue, "bjy", &spec)
        .await
        .expect("dry run");
    assert!(after.lessons.is_empty());
    assert_eq!(after.already_archived, LESSONS);
}

/// Waits until `scan` succeeded and every archive job it enqueued ended, and returns the
/// scan's result and its children.
async fn finished(queue: &Queue, scan: &JobId) -> (Value, Vec<creel_queue::JobRecord>) {
    let rec = wait_for_state(queue, scan, JobState::Succeeded, Duration::from_secs(60)).await;
    let mut children = Vec::new();
    for c in queue.children(scan).await.expect("children") {
        children
            .push(wait_for_state(queue, &c, JobState::Succeeded, Duration::from_secs(60)).await);
    }
    (rec.result.expect("result"), children)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weclassroom_lessons_plaso_records_and_playbacks_are_backfilled_once() {
    use creel_sim::plaso::PlasoOutcome;
    use creel_tests::stack::Stack;

    let sim = vendor_sim::start(vendor_sim::config(600.0, None)).await;
    let now = chrono::Utc::now();
    let first = u64::try_from(now.timestamp()).expect("now") - 10 * 86_400;
    // 30 lessons over the last ten days (a call per day of the window), one long before it.
    sim.sim
        .weclassroom_add_past_lessons(7_000, 30, first, 8 * 3_600);
    sim.sim
        .weclassroom_add_past_lessons(6_000, 1, first - 60 * 86_400, 0);
    let records: Vec<String> = (0..5).map(|i| format!("backfill-record-{i}")).collect();
    for r in &records {
        sim.sim.plaso_add_record(r, PlasoOutcome::Success);
    }
    // Three large-class playbacks, transcoded within the first second at 600x.
    for room in [9_301, 9_302, 9_303] {
        sim.sim.baijiayun_add_playback(
            BJY_PARTNER,
            room,
            0,
            creel_sim::baijiayun::ClassType::LargeClass,
            None,
        );
    }
    let bjy = vendor_sim::account(&sim, Vendor::Baijiayun);
    let wc = vendor_sim::account(&sim, Vendor::Weclassroom);
    let plaso = vendor_sim::account(&sim, Vendor::Plaso);
    let mut stack = Stack::start_with(|cfg| {
        cfg.download.allow_hosts.push("127.0.0.1".into());
        cfg.accounts.insert("wc".into(), wc);
        cfg.accounts.insert("plaso".into(), plaso);
        cfg.accounts.insert("bjy".into(), bjy);
        cfg.classroom.default_poll.first_ms = 50;
        cfg.classroom.default_poll.max_ms = 300;
    })
    .await;
    stack.start_worker();
    let calendar = creel_core::UsageCalendar::new(stack.config.costs.utc_offset_minutes);
    let wc_spec = ArchiveScanSpec {
        source: LessonSource::WeclassroomLessons,
        since: calendar.format_time(now - chrono::Duration::days(12)),
        until: None,
        record_ids: Vec::new(),
        deliver: Deliver {
            profile: "local".into(),
            key: Some("wc/{lesson}.mp4".into()),
        },
        max_in_flight: Some(5),
    };
    let enqueue = |account: &str, spec: &ArchiveScanSpec| {
        let mut r = JobRequest::new("archive.scan", serde_json::to_value(spec).expect("spec"));
        r.account = Some(account.into());
        r
    };
    let scan_wc = stack
        .queue
        .enqueue(enqueue("wc", &wc_spec))
        .await
        .expect("wc")
        .id;
    let plaso_spec = ArchiveScanSpec {
        source: LessonSource::PlasoRecords,
        since: "2020-01-01".into(),
        until: None,
        record_ids: records.clone(),
        deliver: Deliver {
            profile: "local".into(),
            key: Some("plaso/{lesson}.mp4".into()),
        },
        max_in_flight: None,
    };
    let scan_plaso = stack
        .queue
        .enqueue(enqueue("plaso", &plaso_spec))
        .await
        .expect("plaso")
        .id;

    let (result, children) = finished(&stack.queue, &scan_wc).await;
    assert_eq!(result["enqueued"], 30, "{result}");
    assert_eq!(
        result["pages"], 13,
        "a list call per day of the window: {result}"
    );
    assert_eq!(children.len(), 30);
    for id in 7_000..7_030 {
        let stored = std::fs::read(stack.out.path().join(format!("wc/{id}.mp4"))).expect("replay");
        let md5 = sim.sim.weclassroom_replay_md5(id).expect("md5");
        assert_eq!(hex::encode(Md5::digest(&stored)), md5, "lesson {id}");
    }
    assert!(!stack.out.path().join("wc/6000.mp4").exists());

    let (result, children) = finished(&stack.queue, &scan_plaso).await;
    assert_eq!(result["enqueued"], 5, "{result}");
    assert_eq!(children.len(), 5);
    for r in &records {
        assert!(
            stack.out.path().join(format!("plaso/{r}.mp4")).exists(),
            "{r}"
        );
    }
    let billed = sim.sim.plaso_submissions();
    assert!(
        records.iter().all(|r| billed.get(r) == Some(&1)),
        "{billed:?}"
    );

    tokio::time::sleep(Duration::from_secs(1)).await;
    let playback_spec = ArchiveScanSpec {
        source: LessonSource::BaijiayunPlayback,
        since: calendar.format_time(now - chrono::Duration::days(1)),
        // The simulator's clock runs 600 times faster: its playbacks are made hours ahead.
        until: Some(calendar.format_time(now + chrono::Duration::days(2))),
        record_ids: Vec::new(),
        deliver: Deliver {
            profile: "local".into(),
            key: Some("bjy/{lesson}-{index}.mp4".into()),
        },
        max_in_flight: None,
    };
    let scan_bjy = stack
        .queue
        .enqueue(enqueue("bjy", &playback_spec))
        .await
        .expect("bjy")
        .id;
    let (result, children) = finished(&stack.queue, &scan_bjy).await;
    assert_eq!(result["enqueued"], 3, "{result}");
    assert!(children.iter().all(|c| c.kind == "baijiayun.pure_video"));
    for room in [9_301, 9_302, 9_303] {
        assert!(
            stack
                .out
                .path()
                .join(format!("bjy/{room}-0-1.mp4"))
                .exists(),
            "room {room}"
        );
    }

    // Again: nothing new for any.
    for (account, spec) in [
        ("wc", &wc_spec),
        ("plaso", &plaso_spec),
        ("bjy", &playback_spec),
    ] {
        let again = stack
            .queue
            .enqueue(enqueue(account, spec))
            .await
            .expect("again")
            .id;
        let (result, children) = finished(&stack.queue, &again).await;
        assert_eq!(result["enqueued"], 0, "{account}: {result}");
        assert!(children.is_empty());
    }
    assert!(sim.sim.plaso_submissions().values().all(|n| *n == 1));
    stack.stop().await;
}
