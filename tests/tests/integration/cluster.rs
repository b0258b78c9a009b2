//! creel on a real Redis Cluster started by the harness: queues and vendor accounts spread over
//! every primary; the guarantees that cross shards (one job per idempotency key, one terminal
//! event per run, a child's end waking a parent in another queue) hold; and a primary killed
//! with SIGKILL mid-run fails over to its replica without losing an accepted job, emitting a
//! second terminal event, or letting the limiter hand out a window's slots twice.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use apalis_core::task::data::Data;
use creel_core::config::{LimiterConfig, QuotaConfig, Vendor, VendorAccount};
use creel_core::{CallLimiter, JobError, JobId, JobRequest, JobState, QuotaKey, Secret};
use creel_limiter::ClusterLimiter;
use creel_queue::{JobContext, Queue, QueueConfig, RedisBackend, StepOutcome};
use creel_tests::failover;
use creel_tests::probe::wait_for_state;
use creel_tests::redis_cluster::RedisCluster;
use creel_tests::{run_worker, test_config_on};
use serde_json::{Value, json};

/// Six queues whose hash tags fall two on each of three primaries (the failover workload uses
/// the first three, one per primary).
const QUEUES: [&str; 6] = [
    "exports-1",
    "exports-2",
    "exports-3",
    "exports-4",
    "exports-5",
    "exports-6",
];
/// Six Plaso accounts whose hash tags fall on all three primaries.
const ACCOUNTS: [&str; 6] = [
    "school-1", "school-2", "school-3", "school-4", "school-5", "school-6",
];

fn cluster_config(cluster: &RedisCluster) -> QueueConfig {
    test_config_on(cluster.target())
}

fn plaso_account(requests: u32, window_ms: u64) -> VendorAccount {
    let mut account = VendorAccount::new(Vendor::Plaso, "partner", Secret::new("key"));
    account.quota = Some(QuotaConfig::new(requests, window_ms));
    account
}

/// The queue (or account) hash tags of the keys each primary holds.
fn tags_per_primary(cluster: &RedisCluster, pattern: &str) -> BTreeMap<u16, BTreeSet<String>> {
    let mut out = BTreeMap::new();
    for port in cluster.primaries().expect("primaries") {
        let tags = cluster
            .keys_on(port, pattern)
            .expect("KEYS")
            .into_iter()
            .filter_map(|k| {
                let open = k.find('{')?;
                let close = k[open..].find('}')?;
                Some(k[open + 1..open + close].to_owned())
            })
            .collect();
        out.insert(port, tags);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queues_and_accounts_spread_over_every_primary() {
    let cluster = RedisCluster::start(3, 0).expect("cluster");
    let q = Queue::connect(cluster_config(&cluster))
        .await
        .expect("queue");
    for queue in QUEUES {
        let batch = (0..10)
            .map(|n| JobRequest {
                queue: queue.into(),
                ..JobRequest::new("echo", json!({ "n": n }))
            })
            .collect();
        q.enqueue_batch(batch).await.expect("enqueue");
    }
    let accounts: Vec<(String, VendorAccount)> = ACCOUNTS
        .iter()
        .map(|a| ((*a).to_owned(), plaso_account(10, 1000)))
        .collect();
    let limiter = ClusterLimiter::connect(
        &cluster.target(),
        "creel",
        accounts.iter().map(|(n, a)| (n, a)),
        LimiterConfig::default(),
    )
    .await
    .expect("limiter");
    for account in ACCOUNTS {
        // A first ask on a cold quota records its TAT (and is told to come back later).
        let _ = limiter
            .acquire(QuotaKey {
                vendor: Vendor::Plaso,
                account,
                endpoint: "get_video_task",
            })
            .await;
    }

    let queues = tags_per_primary(&cluster, "creel:q:*");
    let limits = tags_per_primary(&cluster, "creel:limit:*");
    assert_eq!(queues.len(), 3, "three primaries");
    for (port, tags) in &queues {
        assert!(
            !tags.is_empty(),
            "primary {port} holds no queue: {queues:?}"
        );
        assert!(
            !limits[port].is_empty(),
            "primary {port} holds no account: {limits:?}"
        );
    }
    let all: BTreeSet<&String> = queues.values().flatten().collect();
    assert_eq!(
        all.len(),
        QUEUES.len(),
        "each queue on exactly one primary: {queues:?}"
    );
    let all: BTreeSet<&String> = limits.values().flatten().collect();
    assert_eq!(
        all.len(),
        ACCOUNTS.len(),
        "each account on exactly one primary: {limits:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_job_per_key_and_parent_wakeups_hold_across_shards() {
    let cluster = RedisCluster::start(3, 0).expect("cluster");
    let q = Queue::connect(cluster_config(&cluster))
        .await
        .expect("queue");

    // Twenty requests with one idempotency key, for queues on different shards, all at once.
    let asks = (0..20).map(|n| {
        let q = q.clone();
        tokio::spawn(async move {
            q.enqueue(JobRequest {
                queue: QUEUES[n % QUEUES.len()].into(),
                idempotency_key: Some("lesson-42".into()),
                ..JobRequest::new("echo", json!({ "n": n }))
            })
            .await
            .expect("enqueue")
        })
    });
    let answers = futures::future::join_all(asks).await;
    let ids: BTreeSet<JobId> = answers
        .iter()
        .map(|a| a.as_ref().expect("task").id.clone())
        .collect();
    let created = answers
        .iter()
        .filter(|a| a.as_ref().expect("task").created)
        .count();
    assert_eq!(
        (ids.len(), created),
        (1, 1),
        "one job for one key: {answers:?}"
    );
    let job = ids.into_iter().next().expect("the job");
    let rec = q.get(&job).await.expect("get").expect("found by id");
    let mut total = 0;
    for queue in QUEUES {
        total += q.counts(queue).await.expect("counts").get(JobState::Ready);
    }
    assert_eq!(total, 1, "exactly one record in all queues");

    // A parent waiting (a day) in one queue is woken by its child ending in another.
    let parent = q
        .enqueue(JobRequest {
            queue: "exports-1".into(),
            run_at: Some(chrono::Utc::now() + chrono::Duration::days(1)),
            ..JobRequest::new("echo", json!({}))
        })
        .await
        .expect("parent")
        .id;
    let child = q
        .enqueue(JobRequest {
            queue: "exports-2".into(),
            ..JobRequest::new("echo", json!({}))
        })
        .await
        .expect("child")
        .id;
    q.link_child(&parent, &child).await.expect("link");
    let child_worker = run_worker!(
        RedisBackend::<Value>::new(q.clone(), "exports-2"),
        2,
        |_j: Value| async { Ok::<_, JobError>(Value::Null) }
    );
    let parent_worker = run_worker!(
        RedisBackend::<Value>::new(q.clone(), "exports-1"),
        2,
        |_j: Value| async { Ok::<_, JobError>(json!("woken")) }
    );
    let woken = wait_for_state(&q, &parent, JobState::Succeeded, Duration::from_secs(10)).await;
    assert_eq!(woken.result, Some(json!("woken")));
    child_worker.stop().await.expect("stop");
    parent_worker.stop().await.expect("stop");
    assert_eq!(
        rec.queue,
        q.queue_of(job.as_str())
            .await
            .expect("index")
            .expect("indexed")
    );
}

/// Each signal key's tag falls on another primary than its listening job's queue (exports-1 on
/// the third, its key on the first; exports-2 on the first, its key on the second): a signal
/// that comes before the job listens is read by it, and one that comes after wakes it at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_reaches_its_job_whether_it_comes_before_or_after_the_listen() {
    let cluster = RedisCluster::start(3, 0).expect("cluster");
    let q = Queue::connect(cluster_config(&cluster))
        .await
        .expect("queue");
    let keep = Duration::from_secs(3600);
    let woken = q
        .signal("plaso:school-1:r2", &json!({"status": "done"}), keep)
        .await
        .expect("signal");
    assert_eq!(woken, 0, "nobody listens yet");
    let listen = |queue: &str, key: &str| JobRequest {
        queue: queue.into(),
        ..JobRequest::new("listen", json!({ "key": key }))
    };
    let early = q
        .enqueue(listen("exports-1", "plaso:school-1:r2"))
        .await
        .expect("enqueue")
        .id;
    let late = q
        .enqueue(listen("exports-2", "weclassroom:school-2:r3"))
        .await
        .expect("enqueue")
        .id;
    // A step listens on its key: with a payload it is done, without one it waits a day.
    let workers: Vec<_> = ["exports-1", "exports-2"]
        .into_iter()
        .map(|queue| {
            let qq = q.clone();
            run_worker!(
                RedisBackend::<Value>::new(q.clone(), queue),
                2,
                move |job: Value, ctx: Data<JobContext>| {
                    let q = qq.clone();
                    async move {
                        let key = job["payload"]["key"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned();
                        let got = q
                            .listen(&ctx, &[key], Duration::from_secs(3600))
                            .await
                            .map_err(|e| JobError::retryable(e.to_string()))?;
                        Ok::<StepOutcome, JobError>(match got.into_iter().next().flatten() {
                            Some(payload) => StepOutcome::Done(payload),
                            None => StepOutcome::Continue {
                                step: "wait".into(),
                                after: Duration::from_secs(86_400),
                            },
                        })
                    }
                }
            )
        })
        .collect();
    let rec = wait_for_state(&q, &early, JobState::Succeeded, Duration::from_secs(10)).await;
    assert_eq!(
        rec.result,
        Some(json!({"status": "done"})),
        "the early signal was kept"
    );
    wait_for_state(&q, &late, JobState::Scheduled, Duration::from_secs(10)).await;
    let woken = q
        .signal("weclassroom:school-2:r3", &json!({"status": "ready"}), keep)
        .await
        .expect("signal");
    assert_eq!(woken, 1, "the listening job was woken");
    let rec = wait_for_state(&q, &late, JobState::Succeeded, Duration::from_secs(10)).await;
    assert_eq!(
        rec.result,
        Some(json!({"status": "ready"})),
        "woken, not after a day"
    );
    for w in workers {
        w.stop().await.expect("stop");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_primary_fails_over_without_losing_an_accepted_job() {
    let mut cluster = RedisCluster::start(3, 1).expect("cluster with replicas");
    let target = cluster.target();
    let mut killed: Option<(u16, Instant)> = None;
    let mut revived = false;
    failover::run_through_failover(target, |accepted| {
        if killed.is_none() && accepted >= failover::JOBS / 3 {
            let victim = tags_per_primary(&cluster, "creel:q:*")
                .into_iter()
                .find(|(_, tags)| tags.contains(failover::QUEUES[0]))
                .map(|(port, _)| port)
                .expect("the primary of the first queue");
            cluster.kill(victim);
            let at = Instant::now();
            killed = Some((victim, at));
            return Some(at);
        }
        // Once its replica has taken over, the killed node comes back (as a pod would) and
        // becomes the new primary's replica: until then that shard has no replica, so writes
        // that must reach one (wait_replicas = 1) are refused, never acknowledged unsafely.
        if let Some((victim, at)) = killed
            && !revived
            && at.elapsed() > Duration::from_secs(5)
        {
            cluster.revive(victim).expect("revive the killed node");
            revived = true;
        }
        None
    })
    .await;
    let (victim, _) = killed.expect("a primary was killed");
    assert!(revived, "the killed node came back during the run");
    cluster
        .wait_ok(Duration::from_secs(30))
        .expect("the replica took over");
    assert_eq!(
        cluster.primaries().expect("primaries").len(),
        3,
        "three primaries"
    );
    assert!(
        !cluster.primaries().expect("primaries").contains(&victim),
        "the killed primary came back as a replica: its replica was promoted"
    );
}
