//! `just bench-jobs`: 500 mixed classroom jobs (100 of each kind, enqueued at 50 a second)
//! against the vendor simulator on a 600x clock, with its callbacks into creel's API, one
//! in-process worker at concurrency 64 and creel's default polling (10 s first poll, doubling):
//! how many vendor status calls a job costs when callbacks arrive, and how soon after a
//! callback reaches creel the job's terminal event is written. Then a second round: 60
//! `baijiayun.vod` jobs of already transcoded videos, without callbacks, under a quota tight
//! enough that the limiter refuses calls: the vendor calls each job made (counted by the
//! simulator) beside the minimum the vendor requires (getStatus once, getInfo once).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use creel_core::config::{QuotaConfig, Vendor};
use creel_core::{JobRequest, JobState, Secret};
use creel_jobs::classroom::keys;
use creel_sim::baijiayun::{ClassType, TaskOutcome};
use creel_sim::plaso::PlasoOutcome;
use creel_tests::stack::Stack;
use creel_tests::vendor_sim::{self, BJY_PARTNER};
use serde_json::{Value, json};

const PER_KIND: i64 = 100;
/// Jobs of the tight-quota round, and its quota: 5 calls a second, so the limiter's queue is
/// deeper than its 5 s horizon and many calls are refused, getInfo after getStatus among them.
const TIGHT_JOBS: usize = 60;
const TIGHT_QUOTA: (u32, u64) = (5, 1_000);
const TOKEN: &str = "bench-plaso-callback-token";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let api = format!("http://{}", listener.local_addr()?);
    let mut sim_config = vendor_sim::config(600.0, None);
    for a in &mut sim_config.accounts {
        a.quota = Some(QuotaConfig::new(2_000, 1_000));
        if a.vendor == Vendor::Plaso {
            a.callback_url = Some(format!("{api}/callbacks/plaso/{TOKEN}"));
        }
    }
    let sim = vendor_sim::start(sim_config).await;
    let account = |v: Vendor| {
        let mut a = vendor_sim::account(&sim, v);
        a.quota = Some(QuotaConfig::new(2_000, 1_000));
        a
    };
    let mut plaso = account(Vendor::Plaso);
    plaso.plaso.callback_token = Some(Secret::new(TOKEN));
    let (bjy, wc) = (account(Vendor::Baijiayun), account(Vendor::Weclassroom));
    // The same partner under another name: its own quota (and no callbacks reach its jobs).
    let mut bjy_tight = account(Vendor::Baijiayun);
    bjy_tight.quota = Some(QuotaConfig::new(TIGHT_QUOTA.0, TIGHT_QUOTA.1));
    vendor_sim::baijiayun(&bjy)
        .set_transcode_callback_url(&format!("{api}/callbacks/baijiayun/bjy"))
        .await?;
    let mut stack = Stack::start_on(listener, |cfg| {
        cfg.accounts.insert("plaso".into(), plaso);
        cfg.accounts.insert("bjy".into(), bjy);
        cfg.accounts.insert("wc".into(), wc);
        cfg.accounts.insert("bjy_tight".into(), bjy_tight);
        if let Some(q) = cfg.worker.queues.get_mut("default") {
            q.concurrency = 64;
        }
        cfg.classroom.callback_max_age_secs = 365 * 24 * 3600;
    })
    .await;

    let mut requests = Vec::new();
    for i in 0..PER_KIND {
        let record = format!("bench-record-{i}");
        sim.sim.plaso_add_record(&record, PlasoOutcome::Success);
        requests.push((
            "plaso.export",
            "plaso",
            json!({"record_id": record, "file_name": "lesson"}),
        ));
        let vod = sim.sim.baijiayun_add_vod(BJY_PARTNER, TaskOutcome::Success);
        requests.push(("baijiayun.vod", "bjy", json!({"video_id": vod})));
        sim.sim
            .baijiayun_add_playback(BJY_PARTNER, 70_000 + i, 0, ClassType::LargeClass, None);
        requests.push(("baijiayun.crop", "bjy", json!({"room_id": 70_000 + i, "segments": [
            {"start_time": 0, "end_time": 300, "name": "a"}, {"start_time": 300, "end_time": 600, "name": "b"}]})));
        sim.sim
            .baijiayun_add_playback(BJY_PARTNER, 80_000 + i, 0, ClassType::LargeClass, None);
        requests.push((
            "baijiayun.pure_video",
            "bjy",
            json!({"room_id": 80_000 + i}),
        ));
        sim.sim.weclassroom_add_lesson(90_000 + i, &[]);
        requests.push(("weclassroom.replay", "wc", json!({"lesson_id": 90_000 + i})));
    }
    let tight_videos: Vec<i64> = (0..TIGHT_JOBS)
        .map(|_| sim.sim.baijiayun_add_vod(BJY_PARTNER, TaskOutcome::Success))
        .collect();
    // The playbacks must be transcoded before they can be cropped or turned into pure video.
    let ready = Instant::now() + Duration::from_secs(30);
    while sim
        .sim
        .baijiayun_tasks()
        .iter()
        .any(|v| v.kind == "playback" && v.status != 100)
    {
        anyhow::ensure!(Instant::now() < ready, "the playbacks did not transcode");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stack.start_worker();
    let started = Instant::now();
    let mut ids = Vec::new();
    // A steady 50 jobs a second, as producers would send them: the latency measured is creel's,
    // not a 500-deep backlog's.
    let mut pace = tokio::time::interval(Duration::from_millis(20));
    for (kind, account, payload) in requests {
        pace.tick().await;
        let mut r = JobRequest::new(kind, payload);
        r.account = Some(account.into());
        ids.push(stack.queue.enqueue(r).await?.id);
    }
    let deadline = Instant::now() + Duration::from_secs(300);
    let records = loop {
        let mut recs = Vec::with_capacity(ids.len());
        for id in &ids {
            recs.push(
                stack
                    .queue
                    .get(id)
                    .await?
                    .ok_or_else(|| anyhow::format_err!("job {id} vanished"))?,
            );
        }
        if recs.iter().all(|r| r.state.is_terminal()) {
            break recs;
        }
        anyhow::ensure!(Instant::now() < deadline, "jobs did not end within 300 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let wall = started.elapsed();

    let mut calls: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    let mut latencies = Vec::new();
    let mut by_kind: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    let (mut completed, mut failed) = (0, 0);
    for r in &records {
        match r.state {
            JobState::Succeeded => completed += 1,
            _ => failed += 1,
        }
        // Every status call, counted in the budget or woken by a callback.
        let n = r.checkpoint.as_ref().map_or(0, |c| {
            c["status_calls"].as_u64().unwrap_or(0) + c["callback_checks"].as_u64().unwrap_or(0)
        });
        let e = calls.entry(kind_name(&r.kind)).or_default();
        e.0 += n;
        e.1 += 1;
        let Some(result) = &r.result else { continue };
        let keys = callback_keys(&r.kind, result);
        let mut last_callback = None;
        for k in &keys {
            if let Some(p) = stack.queue.signal_payload(k).await? {
                let at = p["received_at_ms"].as_i64().unwrap_or(0);
                last_callback = Some(last_callback.map_or(at, |l: i64| l.max(at)));
            }
        }
        if let (Some(cb), Some(done)) = (last_callback, r.finished_at) {
            // A callback that came before the job was enqueued (a VOD video transcoded before
            // anyone asked for it) waits for the job: the clock starts when both exist.
            let from = cb.max(r.created_at.timestamp_millis());
            latencies.push(done.timestamp_millis() - from);
            by_kind
                .entry(kind_name(&r.kind))
                .or_default()
                .push(done.timestamp_millis() - from);
        }
    }
    latencies.sort_unstable();
    let p = |q: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or(0)
    };
    let total_calls: u64 = calls.values().map(|c| c.0).sum();
    eprintln!(
        "jobs bench: {} jobs in {:.1} s; status calls per job by kind:",
        records.len(),
        wall.as_secs_f64()
    );
    for (kind, (n, jobs)) in &calls {
        eprintln!(
            "  {kind}: {:.2} ({n} calls / {jobs} jobs)",
            *n as f64 / *jobs as f64
        );
    }
    eprintln!(
        "  callback -> terminal event over {} callback-finished jobs: p50 {} ms, p90 {} ms, p99 {} ms, max {} ms",
        latencies.len(),
        p(0.5),
        p(0.9),
        p(0.99),
        latencies.last().copied().unwrap_or(0)
    );
    for (kind, mut l) in by_kind {
        l.sort_unstable();
        eprintln!(
            "  {kind}: callback -> event p50 {} ms, max {} ms",
            l[l.len() / 2],
            l[l.len() - 1]
        );
    }
    let tight = tight_round(&stack, &sim, &tight_videos).await?;
    #[allow(clippy::print_stdout)]
    {
        println!(
            "RESULT status_calls_per_job={:.2} callback_to_event_p99_ms={} jobs_completed={completed} jobs_failed={failed}",
            total_calls as f64 / records.len() as f64,
            p(0.99)
        );
        println!(
            "RESULT vendor_calls_per_job={:.2} vendor_calls_min_per_job=2.00 tight_jobs_completed={} tight_jobs_failed={}",
            tight.calls as f64 / TIGHT_JOBS as f64,
            tight.completed,
            TIGHT_JOBS - tight.completed
        );
    }
    stack.stop().await;
    Ok(())
}

/// What the tight-quota round saw.
struct TightRound {
    /// getStatus and getInfo calls the simulator answered for the round's videos.
    calls: u64,
    completed: usize,
}

/// Runs `baijiayun.vod` for each of `videos` (transcoded by now) under the tight quota and
/// counts the vendor calls the simulator received for them.
async fn tight_round(
    stack: &Stack,
    sim: &creel_sim::RunningSim,
    videos: &[i64],
) -> anyhow::Result<TightRound> {
    let mut ids = Vec::new();
    for video in videos {
        let mut r = JobRequest::new("baijiayun.vod", json!({"video_id": video}));
        r.account = Some("bjy_tight".into());
        ids.push(stack.queue.enqueue(r).await?.id);
    }
    let deadline = Instant::now() + Duration::from_secs(300);
    let completed = loop {
        let mut done = 0;
        let mut completed = 0;
        for id in &ids {
            let rec = stack.queue.get(id).await?;
            if let Some(rec) = rec.filter(|r| r.state.is_terminal()) {
                done += 1;
                completed += usize::from(rec.state == JobState::Succeeded);
            }
        }
        if done == ids.len() {
            break completed;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "tight-quota jobs did not end within 300 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let wanted: std::collections::BTreeSet<String> =
        videos.iter().map(ToString::to_string).collect();
    let calls = sim
        .sim
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/video/getStatus") || r.path.ends_with("/video/getInfo"))
        .filter(|r| {
            r.params["video_id"]
                .as_str()
                .is_some_and(|v| wanted.contains(v))
        })
        .count() as u64;
    eprintln!(
        "tight round: {} baijiayun.vod jobs under {} calls / {} ms: {calls} vendor calls, minimum {}",
        videos.len(),
        TIGHT_QUOTA.0,
        TIGHT_QUOTA.1,
        2 * videos.len()
    );
    Ok(TightRound { calls, completed })
}

fn kind_name(kind: &str) -> &'static str {
    match kind {
        "plaso.export" => "plaso.export",
        "baijiayun.vod" => "baijiayun.vod",
        "baijiayun.crop" => "baijiayun.crop",
        "baijiayun.pure_video" => "baijiayun.pure_video",
        "weclassroom.replay" => "weclassroom.replay",
        _ => "other",
    }
}

/// The signal keys the callbacks that finished a job arrived on.
fn callback_keys(kind: &str, result: &Value) -> Vec<String> {
    let outputs = result["outputs"].as_array().cloned().unwrap_or_default();
    match kind {
        "plaso.export" => result["task"]["task_id"]
            .as_str()
            .map(|t| vec![keys::plaso_task("plaso", t)])
            .unwrap_or_default(),
        "baijiayun.vod" | "baijiayun.crop" => outputs
            .iter()
            .filter_map(|o| o["video_id"].as_i64())
            .map(|v| keys::baijiayun_video("bjy", v))
            .collect(),
        "baijiayun.pure_video" => outputs
            .iter()
            .filter_map(|o| {
                o["room_id"]
                    .as_i64()
                    .map(|r| keys::baijiayun_pure_video("bjy", r, o["session_id"].as_i64()))
            })
            .collect(),
        _ => Vec::new(),
    }
}
