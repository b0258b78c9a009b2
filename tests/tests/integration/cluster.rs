//! creel on a real Redis Cluster started by the harness: queues and vendor accounts spread over
//! every primary; the guarantees that cross shards (one job per idempotency key, one terminal
//! event per run, a child's end waking a parent in another queue) hold; and a primary killed
//! with SIGKILL mid-run fails over to its replica without losing an accepted job, emitting a
//! second terminal event, or letting the limiter hand out a window's slots twice.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use creel_core::config::{LimiterConfig, QuotaConfig, Vendor, VendorAccount};
use creel_core::{CallLimiter, JobError, JobId, JobRequest, JobState, QuotaKey, Secret};
use creel_limiter::ClusterLimiter;
use creel_queue::{Queue, QueueConfig, RedisBackend};
use creel_tests::probe::wait_for_state;
use creel_tests::redis_cluster::RedisCluster;
use creel_tests::{run_worker, test_config};
use serde_json::{Value, json};

/// Six queues whose hash tags fall two on each of three primaries.
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
    let mut cfg = test_config("redis://unused");
    cfg.redis = cluster.target();
    cfg
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_primary_fails_over_without_losing_an_accepted_job() {
    const JOBS: usize = 2_000;
    const BATCH: usize = 25;
    let mut cluster = RedisCluster::start(3, 1).expect("cluster with replicas");
    let mut cfg = cluster_config(&cluster);
    cfg.wait_replicas = 1;
    cfg.wait_timeout = Duration::from_secs(1);
    cfg.response_timeout = Duration::from_secs(3);
    let q = Queue::connect(cfg).await.expect("queue");
    let queues = &QUEUES[..3];
    let workers: Vec<_> = queues
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

    // Callers of one quota (20 a second) whose TAT lives on the primary that will die.
    let account = plaso_account(20, 1000);
    let limiter = Arc::new(
        ClusterLimiter::connect(
            &cluster.target(),
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
    let mut callers = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let (limiter, grants, stop) = (Arc::clone(&limiter), Arc::clone(&grants), stop.clone());
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

    // 2,000 jobs in batches, each job with its own idempotency key; a batch that fails (the
    // shard is failing over) is sent again, same keys, until it is accepted.
    let mut accepted: HashMap<String, JobId> = HashMap::new();
    let mut killed = None;
    let mut revived = false;
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut n = 0;
    while n < JOBS {
        if killed.is_none() && n >= JOBS / 3 {
            let victim = tags_per_primary(&cluster, "creel:q:*")
                .into_iter()
                .find(|(_, tags)| tags.contains(queues[0]))
                .map(|(port, _)| port)
                .expect("the primary of the first queue");
            cluster.kill(victim);
            killed = Some((victim, Instant::now()));
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
        let batch: Vec<JobRequest> = (n..(n + BATCH).min(JOBS))
            .map(|i| JobRequest {
                queue: queues[i % queues.len()].into(),
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
                assert!(Instant::now() < deadline, "enqueues kept failing: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    let (victim, killed_at) = killed.expect("a primary was killed");
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

    // Every accepted job ends, once.
    let ids: BTreeSet<JobId> = accepted.values().cloned().collect();
    assert_eq!(ids.len(), JOBS, "one job per key");
    loop {
        let mut done = 0;
        for queue in queues {
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
        busiest <= 20,
        "a 1 s window held {busiest} grants of a quota of 20"
    );
}
