//! Costs and budgets against the vendor simulator and a real Redis: a daily budget of exactly N
//! Plaso exports lets N through across four worker processes (two of them killed with SIGKILL
//! and restarted on the way) and holds the next in `waiting_budget` until the budget is raised,
//! with every export billed once and counted once; Baijiayun downloads count their bytes
//! against a traffic budget, which holds the one that would pass it (or fails it, by config)
//! and says why; the usage API reports what was spent.

use std::path::Path;
use std::time::{Duration, Instant};

use creel_core::config::{AccountCosts, Budget, OnExceed, Vendor};
use creel_core::{JobId, JobRequest, JobState};
use creel_queue::embedded::RedisServer;
use creel_queue::{BudgetOverride, JobRecord, Queue};
use creel_sim::baijiayun::TaskOutcome;
use creel_sim::plaso::PlasoOutcome;
use creel_tests::probe::wait_for_state;
use creel_tests::stack::Stack;
use creel_tests::vendor_sim::{self, BJY_PARTNER, PLASO_APP, PLASO_SECRET};
use creel_tests::worker_processes::{WorkerProcesses, config_head};
use serde_json::json;

/// Exports the budget allows per day (one transcoded hour, 1 CNY, each).
const N: usize = 6;

async fn records(queue: &Queue, ids: &[JobId]) -> Vec<JobRecord> {
    let mut recs = Vec::new();
    for id in ids {
        recs.push(queue.get(id).await.expect("get").expect("job"));
    }
    recs
}

fn count(recs: &[JobRecord], state: JobState) -> usize {
    recs.iter().filter(|r| r.state == state).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_of_n_exports_lets_n_through_four_processes_and_holds_the_next() {
    let redis = RedisServer::start().expect("redis");
    let sim = vendor_sim::start(vendor_sim::config(600.0, None)).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config_file = dir.path().join("creel.toml");
    std::fs::write(
        &config_file,
        format!(
            r#"{head}[classroom.default_poll]
first_ms = 100
max_ms = 800
[accounts.plaso]
vendor = "plaso"
id = "{PLASO_APP}"
secret = "{PLASO_SECRET}"
base_url = "{plaso}"
[costs.accounts.plaso.budget]
daily = {N}
"#,
            head = config_head(&redis.url(), 4),
            plaso = sim.vendor_base(Vendor::Plaso),
        ),
    )
    .expect("config");
    let config = creel::settings::load(Some(&config_file)).expect("config loads");
    let queue = Queue::connect(creel::settings::queue_config(&config))
        .await
        .expect("queue");
    let mut ids = Vec::new();
    for i in 0..=N {
        let record = format!("budget-record-{i}");
        sim.sim.plaso_add_record(&record, PlasoOutcome::Success);
        let mut r = JobRequest::new(
            "plaso.export",
            json!({"record_id": record, "file_name": format!("lesson {i}")}),
        );
        r.account = Some("plaso".into());
        ids.push(queue.enqueue(r).await.expect("enqueue").id);
    }

    let mut workers =
        WorkerProcesses::new(Path::new(env!("CARGO_BIN_EXE_creel-worker")), &config_file);
    for _ in 0..4 {
        workers.spawn();
    }
    // Two processes die mid-way (holds taken, submissions in flight) and come back.
    tokio::time::sleep(Duration::from_millis(400)).await;
    workers.kill_one(0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    workers.kill_one(0);
    workers.spawn();
    workers.spawn();

    let deadline = Instant::now() + Duration::from_secs(90);
    let recs = loop {
        let recs = records(&queue, &ids).await;
        if count(&recs, JobState::Succeeded) == N && count(&recs, JobState::WaitingBudget) == 1 {
            break recs;
        }
        assert!(
            Instant::now() < deadline,
            "expected {N} succeeded and 1 waiting_budget: {:?}",
            recs.iter()
                .map(|r| (r.state, &r.last_error))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let held = recs
        .iter()
        .find(|r| r.state == JobState::WaitingBudget)
        .expect("the held job");
    let why = held.last_error.as_deref().unwrap_or_default();
    assert!(
        why.contains("account plaso") && why.contains("budget daily"),
        "{why}"
    );
    // Every export billed once; the held one not at all.
    let billed = sim.sim.plaso_submissions();
    assert_eq!(billed.len(), N, "{billed:?}");
    assert!(billed.iter().all(|(_, n)| *n == 1), "{billed:?}");
    // Counted once each, through the kills.
    let usage = queue
        .account_usage("plaso", &config.costs, Vec::new())
        .await
        .expect("usage");
    assert!((usage.today.amount - N as f64).abs() < 1e-9, "{usage:?}");
    assert!(
        (usage.today.quantities["plaso:transcoded_hour"] - N as f64).abs() < 1e-9,
        "{usage:?}"
    );
    let done = recs
        .iter()
        .find(|r| r.state == JobState::Succeeded)
        .expect("a succeeded job");
    let cost = &done.result.as_ref().expect("result")["cost"];
    assert_eq!(cost[0]["unit"], "transcoded_hour", "{cost}");
    assert_eq!(cost[0]["amount"], 1.0, "{cost}");
    assert_eq!(cost[0]["basis"], "estimated", "{cost}");

    // Raising the budget wakes the held job at once, fleet-wide.
    let woken = queue
        .set_budget(
            "plaso",
            &BudgetOverride {
                daily: Some(Some((N + 1) as f64)),
                ..BudgetOverride::default()
            },
        )
        .await
        .expect("set budget");
    assert_eq!(woken, 1);
    wait_for_state(
        &queue,
        &held.id,
        JobState::Succeeded,
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(sim.sim.plaso_submissions().len(), N + 1);
    let usage = queue
        .account_usage("plaso", &config.costs, Vec::new())
        .await
        .expect("usage");
    assert!(
        (usage.today.amount - (N + 1) as f64).abs() < 1e-9,
        "{usage:?}"
    );
    assert_eq!(usage.budget.daily, Some((N + 1) as f64));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_traffic_budget_holds_baijiayun_downloads_and_says_why() {
    let mut sim_config = vendor_sim::config(600.0, None);
    sim_config.video_bytes = 256 << 10;
    let video_bytes: u64 = 256 << 10;
    let sim = vendor_sim::start(sim_config).await;
    let account = vendor_sim::account(&sim, Vendor::Baijiayun);
    let mut stack = Stack::start_with(|cfg| {
        cfg.download.allow_hosts.push("127.0.0.1".into());
        cfg.accounts.insert("bjy".into(), account.clone());
        cfg.accounts.insert("bjy-strict".into(), account.clone());
        cfg.accounts.insert("bjy-floor".into(), account.clone());
        cfg.accounts.insert("bjy-tight".into(), account.clone());
        // Less than one video a day: a delivery's stated size is held before it starts.
        cfg.costs.accounts.insert(
            "bjy-tight".into(),
            AccountCosts {
                budget: Budget {
                    daily_traffic_bytes: Some(1_000),
                    ..Budget::default()
                },
                ..AccountCosts::default()
            },
        );
        // The package must keep 2 MiB free.
        cfg.costs.accounts.insert(
            "bjy-floor".into(),
            AccountCosts {
                budget: Budget {
                    min_free_traffic_bytes: Some(2 << 20),
                    ..Budget::default()
                },
                ..AccountCosts::default()
            },
        );
        // 1 CNY per GiB, at most two videos a day; the strict account may download nothing.
        cfg.costs.accounts.insert(
            "bjy".into(),
            AccountCosts {
                unit_price: Some(1.0),
                budget: Budget {
                    daily_traffic_bytes: Some(2 * video_bytes),
                    ..Budget::default()
                },
                ..AccountCosts::default()
            },
        );
        cfg.costs.accounts.insert(
            "bjy-strict".into(),
            AccountCosts {
                budget: Budget {
                    daily_traffic_bytes: Some(0),
                    on_exceed: OnExceed::Fail,
                    ..Budget::default()
                },
                ..AccountCosts::default()
            },
        );
    })
    .await;
    stack.start_worker();
    let mut ids = Vec::new();
    for _ in 0..3 {
        let video = sim.sim.baijiayun_add_vod(BJY_PARTNER, TaskOutcome::Success);
        ids.push(
            stack
                .create_job(&json!({"kind": "download", "account": "bjy", "payload": {
                    "source": {"type": "baijiayun_vod", "video_id": video},
                    "profile": "local", "expected_length": video_bytes}}))
                .await,
        );
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let recs = loop {
        let recs = records(&stack.queue, &ids).await;
        if count(&recs, JobState::Succeeded) == 2 && count(&recs, JobState::WaitingBudget) == 1 {
            break recs;
        }
        assert!(
            Instant::now() < deadline,
            "expected 2 succeeded and 1 waiting_budget: {:?}",
            recs.iter()
                .map(|r| (r.state, &r.last_error))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let held = recs
        .iter()
        .find(|r| r.state == JobState::WaitingBudget)
        .expect("held");
    assert!(
        held.last_error
            .as_deref()
            .is_some_and(|e| e.contains("daily_traffic_bytes")),
        "{:?}",
        held.last_error
    );
    let done = recs
        .iter()
        .find(|r| r.state == JobState::Succeeded)
        .expect("done");
    let cost = &done.result.as_ref().expect("result")["cost"][0];
    assert_eq!(cost["unit"], "traffic_bytes", "{cost}");
    assert_eq!(cost["quantity"], video_bytes as f64, "{cost}");
    assert_eq!(cost["basis"], "actual", "{cost}");

    // The usage API: what today moved, and the budget it was checked against.
    let (status, usage) = stack.get_json("/v1/accounts/bjy/usage").await;
    assert_eq!(status, 200, "{usage}");
    assert_eq!(usage["today"]["traffic_bytes"], 2 * video_bytes, "{usage}");
    assert_eq!(usage["days"].as_array().map(Vec::len), Some(30), "{usage}");
    assert_eq!(usage["total"]["traffic_bytes"], 2 * video_bytes, "{usage}");
    assert_eq!(
        usage["budget"]["daily_traffic_bytes"],
        2 * video_bytes,
        "{usage}"
    );
    let (status, bad) = stack
        .get_json("/v1/accounts/bjy/usage?from=2026-13-01")
        .await;
    assert_eq!(
        (status, bad["field"].as_str()),
        (422, Some("from")),
        "{bad}"
    );
    let (status, _) = stack.get_json("/v1/accounts/nobody/usage").await;
    assert_eq!(status, 404);

    // An account whose budget says to fail: the download fails for good, naming the budget.
    let video = sim.sim.baijiayun_add_vod(BJY_PARTNER, TaskOutcome::Success);
    let strict = stack
        .create_job(
            &json!({"kind": "download", "account": "bjy-strict", "payload": {
            "source": {"type": "baijiayun_vod", "video_id": video}, "profile": "local"}}),
        )
        .await;
    let failed = wait_for_state(
        &stack.queue,
        &strict,
        JobState::Failed,
        Duration::from_secs(30),
    )
    .await;
    assert!(
        failed
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("bjy-strict") && e.contains("daily_traffic_bytes")),
        "{:?}",
        failed.last_error
    );

    // Lifting the limit lets the held download go.
    stack
        .queue
        .set_budget(
            "bjy",
            &BudgetOverride {
                daily_traffic_bytes: Some(None),
                ..BudgetOverride::default()
            },
        )
        .await
        .expect("lift");
    wait_for_state(
        &stack.queue,
        &held.id,
        JobState::Succeeded,
        Duration::from_secs(30),
    )
    .await;
    let (_, usage) = stack.get_json("/v1/accounts/bjy/usage").await;
    assert_eq!(usage["today"]["traffic_bytes"], 3 * video_bytes, "{usage}");

    // A classroom delivery holds the vendor's stated size (its size hint): with 1,000 bytes a
    // day, the 256 KiB video's delivery could never run, so it fails at once, saying so,
    // instead of starting (or waiting for ever).
    let video = sim.sim.baijiayun_add_vod(BJY_PARTNER, TaskOutcome::Success);
    let parent = stack
        .create_job(
            &json!({"kind": "baijiayun.vod", "account": "bjy-tight", "payload": {
            "video_id": video, "deliver": {"profile": "local"}}}),
        )
        .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let child = loop {
        if let Some(c) = stack.queue.children(&parent).await.expect("children").pop() {
            break c;
        }
        assert!(Instant::now() < deadline, "no delivery was enqueued");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let refused = wait_for_state(
        &stack.queue,
        &child,
        JobState::Failed,
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(
        refused.payload["size_hint"], video_bytes,
        "{:?}",
        refused.payload
    );
    assert!(
        refused
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("bjy-tight")
                && e.contains("more than the budget daily_traffic_bytes")),
        "{:?}",
        refused.last_error
    );
    wait_for_state(
        &stack.queue,
        &parent,
        JobState::Failed,
        Duration::from_secs(30),
    )
    .await;

    // The traffic floor: Baijiayun's count leaves 1 MiB of the 10 GiB package, the floor is
    // 2 MiB, so the download does not start, and says why.
    sim.sim
        .baijiayun_set_used_flow(BJY_PARTNER, (10 << 30) - (1 << 20));
    let video = sim.sim.baijiayun_add_vod(BJY_PARTNER, TaskOutcome::Success);
    let floored = stack
        .create_job(
            &json!({"kind": "download", "account": "bjy-floor", "payload": {
            "source": {"type": "baijiayun_vod", "video_id": video}, "profile": "local"}}),
        )
        .await;
    let held = wait_for_state(
        &stack.queue,
        &floored,
        JobState::WaitingBudget,
        Duration::from_secs(30),
    )
    .await;
    let why = held.last_error.unwrap_or_default();
    assert!(
        why.contains("account bjy-floor: traffic floor") && why.contains("min_free_traffic_bytes"),
        "{why}"
    );
    assert!(
        !sim.sim
            .requests()
            .iter()
            .any(|r| r.params["video_id"] == json!(video.to_string())
                && r.path.ends_with("getUrl")),
        "nothing was downloaded"
    );
    stack.stop().await;
}
