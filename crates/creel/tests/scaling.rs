//! Horizontal scaling, played against real processes: a controller loop does what KEDA's
//! `metrics-api` trigger and the HPA do with `AverageValue` (poll `GET /v1/scaling/default`
//! every second, `ceil(backlog / target)` replicas between min and max, scale-up at once,
//! scale-down only to the highest recommendation of the stabilisation window), and a fleet
//! does what the kubelet does (start `creel worker` processes; SIGTERM, then SIGKILL after
//! the grace period). Under a burst of 300 downloads of about 2 s each, with min 1 and max 8:
//! the fleet reaches 8, drains the backlog and returns to 1 after the window; every job
//! succeeds with exactly one terminal event, no step runs in two processes at once, some pod
//! is stopped in the middle of steps, and every worker told to stop exits 0 within its grace
//! period. A node drain evicts the oldest pod mid-burst, so a busy pod is always stopped; the
//! last jobs are long, so a scale-down may stop busy pods too (Kubernetes stops the newest
//! pods first, and those may be idle by then, so that alone would not always happen).
//!
//! `just scale-sim` runs this test with `SCALE_SIM_OUT` set: it prints the timeline
//! as it goes and writes it there as `timeline.csv` and `timeline.png`.

mod support;

mod scaling {
    pub(crate) mod chart;
    pub(crate) mod fleet;
    pub(crate) mod steps;
}

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use creel::samples::SampleServer;
use creel_core::{JobRequest, JobState};
use creel_queue::embedded::RedisServer;
use creel_queue::{Queue, QueueConfig};
use scaling::chart::Row;
use scaling::fleet::Fleet;
use serde_json::json;

const JOBS: usize = 300;
/// Of which this many are long (about 8 s).
const LONG_JOBS: usize = 24;
/// Steps one worker runs at once, and the scaler's target backlog per replica.
const CONCURRENCY: u64 = 4;
const MIN_REPLICAS: usize = 1;
const MAX_REPLICAS: usize = 8;
/// The HPA's scale-down stabilisation window (300 s by default in Kubernetes).
const WINDOW: Duration = Duration::from_secs(5);
const DRAIN_MS: u64 = 3_000;
/// terminationGracePeriodSeconds: the drain and a margin.
const GRACE: Duration = Duration::from_millis(DRAIN_MS + 2_000);
const TOKEN: &str = "keda-token-of-thirty-two-bytes-at-least";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_scales_the_fleet_out_and_back_without_losing_a_job() {
    let out = std::env::var_os("SCALE_SIM_OUT").map(std::path::PathBuf::from);
    let redis = RedisServer::start().expect("redis-server");
    // 256 KiB chunks with 500 ms between them: about 2 s for a lesson, 8 s for a long one.
    let samples = SampleServer::start(
        &[("lesson.mp4", 1 << 20), ("long.mp4", 4 << 20)],
        Duration::from_millis(500),
        "k",
    )
    .await
    .expect("samples");
    let dir = tempfile::tempdir().expect("tempdir");
    let api_addr = free_address();
    let config = dir.path().join("creel.toml");
    std::fs::write(
        &config,
        format!(
            "[redis]\nurl = \"{redis}\"\n\
             [api]\nlisten = \"{api_addr}\"\n\
             [[api.tokens]]\nname = \"keda\"\ntoken = \"{TOKEN}\"\nscopes = [\"scaling:read\"]\n\
             [worker]\nlease_ms = 5000\ndrain_ms = {DRAIN_MS}\n\
             [worker.queues.default]\nconcurrency = {CONCURRENCY}\n\
             [download]\nallow_hosts = [\"127.0.0.1\"]\n\
             [storage.local]\ntype = \"dir\"\npath = \"{out}\"\n",
            redis = redis.url(),
            out = dir.path().join("bucket").display(),
        ),
    )
    .expect("config");
    let mut api = std::process::Command::new(env!("CARGO_BIN_EXE_creel"))
        .arg("--config")
        .arg(&config)
        .arg("api")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::from(
            std::fs::File::create(dir.path().join("api.log")).expect("api log"),
        ))
        .spawn()
        .expect("creel api");
    let http = reqwest::Client::new();
    let scaling_url = format!("http://{api_addr}/v1/scaling/default");
    if !is_up(&http, &format!("http://{api_addr}/readyz")).await {
        let log = std::fs::read_to_string(dir.path().join("api.log")).unwrap_or_default();
        panic!("creel api did not become ready: {log}");
    }

    let mut fleet = Fleet::new(&config, dir.path(), GRACE);
    fleet.scale_to(MIN_REPLICAS);
    let queue = Queue::connect(QueueConfig::new(redis.url()))
        .await
        .expect("queue");
    // The last jobs are long: they still run when the backlog has shrunk and the window has
    // passed, so pods are stopped in the middle of steps (drained, or interrupted and their
    // jobs handed to another pod).
    let burst = (0..JOBS)
        .map(|n| {
            let sample = if n < JOBS - LONG_JOBS {
                "lesson.mp4"
            } else {
                "long.mp4"
            };
            JobRequest::new(
                "download",
                json!({"url": samples.url(sample), "profile": "local",
                       "key": format!("lessons/{n}.mp4")}),
            )
        })
        .collect();
    queue.enqueue_batch(burst).await.expect("the burst");

    let started = Instant::now();
    let mut recommendations: VecDeque<(Instant, usize)> = VecDeque::new();
    let mut timeline: Vec<Row> = Vec::new();
    let mut evicted = false;
    loop {
        let backlog: serde_json::Value = http
            .get(&scaling_url)
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("GET /v1/scaling/default")
            .error_for_status()
            .expect("the backlog")
            .json()
            .await
            .expect("json");
        let n = |k: &str| {
            backlog[k]
                .as_u64()
                .unwrap_or_else(|| panic!("{k} in {backlog}"))
        };
        let desired = usize::try_from(n("backlog").div_ceil(CONCURRENCY))
            .unwrap_or(MAX_REPLICAS)
            .clamp(MIN_REPLICAS, MAX_REPLICAS);
        let now = Instant::now();
        recommendations.push_back((now, desired));
        while recommendations
            .front()
            .is_some_and(|(at, _)| now.duration_since(*at) > WINDOW)
        {
            recommendations.pop_front();
        }
        let current = fleet.replicas();
        let next = if desired >= current {
            desired
        } else {
            // Scale down only to the highest recommendation of the window.
            recommendations
                .iter()
                .map(|(_, r)| *r)
                .max()
                .unwrap_or(desired)
        };
        fleet.scale_to(next);
        // A node drain evicts the oldest pod while the backlog is high (so it runs steps), and
        // the Deployment replaces it.
        if !evicted && fleet.replicas() == MAX_REPLICAS && n("ready") >= 100 {
            fleet.evict_oldest();
            fleet.scale_to(next);
            evicted = true;
        }
        fleet.reap();
        let succeeded = queue
            .counts("default")
            .await
            .expect("counts")
            .get(JobState::Succeeded);
        let row = Row {
            second: started.elapsed().as_secs_f64(),
            backlog: n("backlog"),
            ready: n("ready"),
            running: n("running"),
            succeeded,
            replicas: fleet.replicas(),
            desired,
        };
        if out.is_some() {
            scaling::chart::say(&row.to_string());
        }
        timeline.push(row);
        if succeeded == JOBS as u64
            && fleet.replicas() == MIN_REPLICAS
            && fleet.running() == MIN_REPLICAS
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "the fleet did not drain and settle in 180 s:\n{}",
            scaling::chart::csv(&timeline)
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    // The last pod goes as a rollout would take it.
    fleet.scale_to(0);
    while fleet.running() > 0 {
        fleet.reap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = api.kill();
    let _ = api.wait();
    if let Some(out) = &out {
        scaling::chart::write(out, &timeline);
    }

    let peak = timeline.iter().map(|r| r.replicas).max().unwrap_or(0);
    assert_eq!(
        peak,
        MAX_REPLICAS,
        "the fleet reached its max:\n{}",
        scaling::chart::csv(&timeline)
    );
    assert_eq!(
        timeline.last().map(|r| r.replicas),
        Some(MIN_REPLICAS),
        "back to min"
    );

    // No job lost, one terminal event each.
    let mut terminal: HashMap<String, usize> = HashMap::new();
    for e in queue
        .events_of_every_queue(1_000_000)
        .await
        .expect("events")
    {
        *terminal.entry(e.event.subject).or_default() += 1;
    }
    assert_eq!(terminal.len(), JOBS, "a terminal event for every job");
    assert!(
        terminal.values().all(|n| *n == 1),
        "exactly one each: {:?}",
        terminal
            .iter()
            .filter(|(_, n)| **n != 1)
            .collect::<Vec<_>>()
    );
    let counts = queue.counts("default").await.expect("counts");
    assert_eq!(counts.get(JobState::Succeeded), JOBS as u64, "{counts:?}");
    let stored = std::fs::read_dir(dir.path().join("bucket/lessons"))
        .expect("stored lessons")
        .count();
    assert_eq!(stored, JOBS);

    // No step ran in two processes at once.
    let runs = scaling::steps::step_runs(&fleet.logs());
    assert_eq!(runs.len(), JOBS, "every job's steps are in the logs");
    let overlaps = scaling::steps::overlapping(&runs);
    assert!(
        overlaps.is_empty(),
        "steps run twice at once: {overlaps:#?}"
    );

    assert!(
        evicted,
        "the backlog never stood at 100 ready jobs with the fleet at its max"
    );
    // Some pod was stopped while it ran steps: the drain was exercised, not only idle exits.
    let stopped_busy = fleet
        .exits
        .iter()
        .filter(|e| scaling::steps::ran_after_stop(&e.log, &runs))
        .count();
    assert!(
        stopped_busy >= 1,
        "no pod was stopped in the middle of a step"
    );

    // Every worker told to stop drained and exited 0 within its grace period.
    assert!(fleet.exits.len() >= MAX_REPLICAS, "{:?}", fleet.exits);
    for exit in &fleet.exits {
        assert!(
            exit.code == Some(0) && !exit.killed && exit.after_term.is_some_and(|t| t <= GRACE),
            "{exit:?}"
        );
    }
}

/// A loopback address nothing listens on yet.
fn free_address() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").to_string()
}

/// Whether `url` answers 2xx within 30 s.
async fn is_up(http: &reqwest::Client, url: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if http
            .get(url)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}
