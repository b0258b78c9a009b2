//! The workload both failover tests run (Redis Cluster and Sentinel), with `wait_replicas = 1`:
//! 2,000 jobs over three queues, enqueued in batches of 25 with one idempotency key per job (a
//! batch that fails is sent again with the same keys), run by one worker per queue, while four
//! callers share a 20-per-second limiter quota. The test's `fault` kills a primary part-way.
//! Afterwards: no accepted job lost, exactly one terminal event per job, and no 1 s window
//! with more limiter grants than the quota.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use creel_core::config::{LimiterConfig, QuotaConfig, Vendor, VendorAccount};
use creel_core::{CallLimiter, JobError, JobId, JobRequest, JobState, QuotaKey, Secret};
use creel_limiter::ClusterLimiter;
use creel_queue::{Queue, RedisBackend};
use creel_redis::RedisTarget;
use serde_json::{Value, json};

use crate::{run_worker, test_config_on};

/// Jobs the workload enqueues.
pub const JOBS: usize = 2_000;
/// Its queues; on a fresh three-primary cluster their hash tags fall one on each primary.
pub const QUEUES: [&str; 3] = ["exports-1", "exports-2", "exports-3"];
const BATCH: usize = 25;
/// The limiter quota the callers share: 20 calls per second.
const QUOTA: u32 = 20;

/// Grants per sliding window: the most any `window` held.
fn busiest_window(grants: &mut [Instant], window: Duration) -> usize {
    grants.sort();
    let mut best = 0;
    let mut start = 0;
    for end in 0..grants.len() {
        while grants[end].duration_since(grants[start]) >= window {
            start += 1;
        }
        best = best.max(end - start + 1);
    }
    best
}

/// Callers of one quota until `stop`; each grant's time goes into `grants`.
fn spawn_callers(
    limiter: &Arc<ClusterLimiter>,
    grants: &Arc<Mutex<Vec<Instant>>>,
    stop: &tokio_util::sync::CancellationToken,
) -> tokio::task::JoinSet<()> {
    let mut callers = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let (limiter, grants, stop) = (Arc::clone(limiter), Arc::clone(grants), stop.clone());
        callers.spawn(async move {
            while !stop.is_cancelled() {
                let key = QuotaKey {
                    vendor: Vendor::Plaso,
                    account: "school-1",
                    endpoint: "get_video_task",
                };
                match limiter.acquire(key).await {
                    Ok(_permit) => grants.lock().expect("grants").push(Instant::now()),
                    Err(JobError::RetryAfter { after, .. }) => {
                        tokio::time::sleep(after.min(Duration::from_secs(1))).await;
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            }
        });
    }
    callers
}

/// Runs the workload on `target`. Before each batch, `fault` gets the number of jobs accepted
/// so far and may break something; it returns the time it killed a primary, once.
pub async fn run_through_failover(
    target: RedisTarget,
    mut fault: impl FnMut(usize) -> Option<Instant>,
) {
    let mut cfg = test_config_on(target.clone());
    cfg.wait_replicas = 1;
    cfg.wait_timeout = Duration::from_secs(1);
    cfg.response_timeout = Duration::from_secs(3);
    let q = Queue::connect(cfg).await.expect("queue");
    let workers: Vec<_> = QUEUES
        .iter()
        .map(|name| {
            run_worker!(
                RedisBackend::<Value>::new(q.clone(), name),
                8,
                |_j: Value| async {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    Ok::<_, JobError>(Value::Null)
                }
            )
        })
        .collect();
    let mut account = VendorAccount::new(Vendor::Plaso, "partner", Secret::new("key"));
    account.quota = Some(QuotaConfig::new(QUOTA, 1000));
    let limiter = Arc::new(
        ClusterLimiter::connect(
            &target,
            "creel",
            [(&"school-1".to_owned(), &account)],
            LimiterConfig {
                horizon_ms: 5_000,
                ..LimiterConfig::default()
            },
        )
        .await
        .expect("limiter")
        .with_wait_replicas(1),
    );
    let grants = Arc::new(Mutex::new(Vec::<Instant>::new()));
    let stop = tokio_util::sync::CancellationToken::new();
    let mut callers = spawn_callers(&limiter, &grants, &stop);

    let mut accepted: HashMap<String, JobId> = HashMap::new();
    let mut killed_at = None;
    let mut refused = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut n = 0;
    while n < JOBS {
        if let Some(at) = fault(n) {
            killed_at = Some(at);
        }
        let batch: Vec<JobRequest> = (n..(n + BATCH).min(JOBS))
            .map(|i| JobRequest {
                queue: QUEUES[i % QUEUES.len()].into(),
                idempotency_key: Some(format!("job-{i}")),
                ..JobRequest::new("echo", json!({ "i": i }))
            })
            .collect();
        let keys: Vec<String> = batch
            .iter()
            .map(|r| r.idempotency_key.clone().expect("key"))
            .collect();
        match q.enqueue_batch(batch).await {
            Ok(answers) => {
                for (key, answer) in keys.into_iter().zip(answers) {
                    accepted.insert(key, answer.id);
                }
                n += BATCH;
            }
            Err(e) => {
                refused += 1;
                assert!(Instant::now() < deadline, "enqueues kept failing: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    let killed_at = killed_at.expect("the fault killed a primary");

    let ids: BTreeSet<JobId> = accepted.values().cloned().collect();
    assert_eq!(ids.len(), JOBS, "one job per key");
    loop {
        let mut done = 0;
        for queue in QUEUES {
            done += q
                .counts(queue)
                .await
                .map_or(0, |c| c.get(JobState::Succeeded));
        }
        if done as usize >= JOBS {
            break;
        }
        assert!(
            Instant::now() < deadline + Duration::from_secs(60),
            "{done} of {JOBS} ended"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.cancel();
    while callers.join_next().await.is_some() {}
    for w in workers {
        w.stop().await.expect("stop");
    }
    for id in &ids {
        let rec = q.get(id).await.expect("get").expect("accepted job lost");
        assert_eq!(rec.state, JobState::Succeeded, "{rec:?}");
    }
    let mut terminal: HashMap<String, usize> = HashMap::new();
    for e in q.events_of_every_queue(1_000_000).await.expect("events") {
        *terminal.entry(e.event.subject).or_default() += 1;
    }
    for id in &ids {
        assert_eq!(
            terminal.get(id.as_str()),
            Some(&1),
            "job {id}: terminal events"
        );
    }
    let mut grants = grants.lock().expect("grants").clone();
    let after_kill = grants.iter().filter(|t| **t > killed_at).count();
    assert!(
        after_kill > 0,
        "the limiter granted again after the failover"
    );
    let busiest = busiest_window(&mut grants, Duration::from_millis(1000));
    assert!(
        busiest <= QUOTA as usize,
        "a 1 s window held {busiest} grants of a quota of {QUOTA}"
    );
    tracing::info!(
        refused_batches = refused,
        grants = grants.len(),
        after_kill,
        busiest,
        "failover workload done"
    );
}
