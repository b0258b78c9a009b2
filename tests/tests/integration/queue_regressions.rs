//! One regression test for each way apalis-redis 1.0.0 was seen to fail (see issue 2 and
//! shared notes): none of them may happen with creel-queue.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use creel_core::{JobError, JobRequest, JobState, RetryPolicy};
use creel_queue::{Queue, RedisBackend};
use creel_tests::probe::{
    enqueue_noops, events_for, wait_for_count, wait_for_count_at_least, wait_for_state,
};
use creel_tests::{RedisServer, run_worker, start_queue, start_queue_with, test_config};
use serde::Deserialize;
use serde_json::{Value, json};

type Ok_ = Result<Value, JobError>;

/// #1: ~8,000 due jobs wedged apalis-redis ("too many results to unpack"); and #5: its leases
/// scanned the whole backlog. 20,000 due jobs drain with no error, no O(n) command is used and
/// no script call takes long (a coarse 250 ms guard; timings on a shared 2-core box vary).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_thousand_due_jobs_drain_without_error_or_slow_scripts() {
    let redis = RedisServer::start().expect("redis");
    let mut admin = redis.connection().expect("conn");
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("slowlog-log-slower-than")
        .arg(250_000)
        .query(&mut admin)
        .expect("slowlog");
    let mut cfg = test_config(&redis.url());
    cfg.fetch_batch = 64;
    let q = Queue::connect(cfg).await.expect("connect");
    let due = chrono::Utc::now() + chrono::Duration::seconds(5);
    let reqs: Vec<JobRequest> = (0..20_000)
        .map(|i| JobRequest {
            run_at: Some(due),
            ..JobRequest::new("noop", json!({ "i": i }))
        })
        .collect();
    q.enqueue_batch(reqs).await.expect("enqueue 20k");
    assert_eq!(
        q.counts("default")
            .await
            .expect("counts")
            .get(JobState::Scheduled),
        20_000
    );
    let until_due = (due - chrono::Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(until_due + Duration::from_millis(50)).await;

    let worker = run_worker!(
        RedisBackend::<Value>::new(q.clone(), "default"),
        64,
        |_j: Value| async { Ok_::Ok(Value::Null) }
    );
    wait_for_count(
        &q,
        "default",
        JobState::Succeeded,
        20_000,
        Duration::from_secs(120),
    )
    .await;
    worker.stop().await.expect("stop");
    let stats: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(&mut admin)
        .expect("info");
    assert!(
        !stats.contains("cmdstat_lrem"),
        "an O(n) LREM was used:\n{stats}"
    );
    let slow: Vec<redis::Value> = redis::cmd("SLOWLOG")
        .arg("GET")
        .arg(10)
        .query(&mut admin)
        .expect("slowlog");
    assert!(
        slow.is_empty(),
        "script calls over 250 ms (a coarse guard: each call works on a bounded chunk): {slow:?}"
    );
}

/// #2: retries were fixed at 25 whatever the policy said. A policy of 3 runs a failing job
/// exactly 3 times, then it is dead with one failed event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_policy_of_three_runs_a_failing_job_exactly_three_times() {
    let (_redis, q) = start_queue_with(|cfg| {
        cfg.retry.insert(
            "flaky".into(),
            RetryPolicy {
                max_attempts: 3,
                base_delay: Duration::from_millis(20),
                max_delay: Duration::from_millis(100),
                jitter: 0.0,
                ..RetryPolicy::default()
            },
        );
    })
    .await;
    let id = q
        .enqueue(JobRequest::new("flaky", json!({})))
        .await
        .expect("enqueue")
        .id;
    let runs = Arc::new(AtomicUsize::new(0));
    let r = runs.clone();
    let worker = run_worker!(
        RedisBackend::<Value>::new(q.clone(), "default"),
        2,
        move |_j: Value| {
            let r = r.clone();
            async move {
                r.fetch_add(1, Ordering::SeqCst);
                Ok_::Err(JobError::retryable("vendor answered 502"))
            }
        }
    );
    let rec = wait_for_state(&q, &id, JobState::Failed, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    worker.stop().await.expect("stop");
    assert_eq!(runs.load(Ordering::SeqCst), 3);
    assert_eq!(rec.attempts, 3);
    let err = rec.last_error.expect("error recorded");
    assert!(
        err.contains("attempts exhausted (3 of 3)") && err.contains("502"),
        "{err}"
    );
    let events = events_for(&q, &id).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type.as_str(), "creel.job.failed");
}

/// `Permanent` goes straight to dead; `RetryAfter` waits as long as asked and does not use up
/// an attempt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_is_dead_at_once_and_retry_after_is_honoured() {
    let (_redis, q) = start_queue().await;
    let dead = q
        .enqueue(JobRequest::new("bad", json!({})))
        .await
        .expect("enqueue")
        .id;
    let later = q
        .enqueue(JobRequest::new("quota", json!({})))
        .await
        .expect("enqueue")
        .id;
    let seen = Arc::new(std::sync::Mutex::new(Vec::<(String, Instant)>::new()));
    let s = seen.clone();
    let worker = run_worker!(
        RedisBackend::<Value>::new(q.clone(), "default"),
        2,
        move |j: Value| {
            let s = s.clone();
            async move {
                let kind = j["kind"].as_str().unwrap_or_default().to_owned();
                let first = {
                    let mut v = s.lock().expect("lock");
                    let first = !v.iter().any(|(k, _)| *k == kind);
                    v.push((kind.clone(), Instant::now()));
                    first
                };
                match (kind.as_str(), first) {
                    ("bad", _) => Ok_::Err(JobError::permanent("classroom does not exist (22003)")),
                    ("quota", true) => {
                        Err(JobError::retry_after(Duration::from_millis(700), "quota"))
                    }
                    _ => Ok(json!("ok")),
                }
            }
        }
    );
    let rec = wait_for_state(&q, &dead, JobState::Failed, Duration::from_secs(5)).await;
    assert_eq!(rec.attempts, 1);
    assert!(rec.last_error.as_deref().unwrap_or("").contains("22003"));
    let rec = wait_for_state(&q, &later, JobState::Succeeded, Duration::from_secs(5)).await;
    worker.stop().await.expect("stop");
    assert_eq!(rec.attempts, 1, "a RetryAfter must not use up an attempt");
    let v = seen.lock().expect("lock").clone();
    let quota: Vec<Instant> = v
        .iter()
        .filter(|(k, _)| k == "quota")
        .map(|(_, t)| *t)
        .collect();
    assert_eq!(quota.len(), 2);
    assert!(
        quota[1] - quota[0] >= Duration::from_millis(690),
        "ran again after {:?}",
        quota[1] - quota[0]
    );
    assert_eq!(v.iter().filter(|(k, _)| k == "bad").count(), 1);
}

/// #3: idempotency keys expired at once. A repeated key returns the first job's id, before
/// and after that job finished, and no second job exists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_idempotency_key_returns_the_first_id() {
    let (_redis, q) = start_queue().await;
    let req = JobRequest {
        idempotency_key: Some("lesson-42-export".into()),
        ..JobRequest::new("noop", json!({}))
    };
    let first = q.enqueue(req.clone()).await.expect("enqueue");
    let second = q.enqueue(req.clone()).await.expect("enqueue again");
    assert!(first.created);
    assert!(!second.created);
    assert_eq!(first.id, second.id);
    let batch = q
        .enqueue_batch(vec![req.clone(), JobRequest::new("noop", json!({}))])
        .await
        .expect("batch");
    assert_eq!(batch[0].id, first.id);
    assert!(batch[1].created);
    let worker = run_worker!(
        RedisBackend::<Value>::new(q.clone(), "default"),
        2,
        |_j: Value| async { Ok_::Ok(Value::Null) }
    );
    wait_for_state(&q, &first.id, JobState::Succeeded, Duration::from_secs(5)).await;
    worker.stop().await.expect("stop");
    let third = q.enqueue(req).await.expect("enqueue after finish");
    assert_eq!(third.id, first.id);
    assert_eq!(
        q.counts("default")
            .await
            .expect("counts")
            .get(JobState::Succeeded),
        2
    );
}

/// #4: idle workers noticed new jobs only on a 30 s heartbeat. With the idle poll set to 10 s,
/// an idle worker still starts a pushed job within 50 ms (median of 5), through the wake-up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_worker_starts_a_pushed_job_within_50ms() {
    let (_redis, q) = start_queue_with(|cfg| {
        cfg.idle_poll = Duration::from_secs(10);
    })
    .await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Instant>();
    let worker = run_worker!(
        RedisBackend::<Value>::new(q.clone(), "default"),
        2,
        move |_j: Value| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(Instant::now());
                Ok_::Ok(Value::Null)
            }
        }
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut latencies = Vec::new();
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let pushed = Instant::now();
        q.enqueue(JobRequest::new("noop", json!({})))
            .await
            .expect("enqueue");
        let started = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("picked up")
            .expect("open");
        latencies.push(started - pushed);
    }
    worker.stop().await.expect("stop");
    latencies.sort();
    assert!(
        latencies[2] < Duration::from_millis(50),
        "pickup latencies {latencies:?}"
    );
}

#[derive(Debug, Deserialize)]
#[serde(tag = "kind", content = "payload", rename_all = "snake_case")]
enum Typed {
    Greet { name: String },
}

/// #6: one undecodable payload crashed every worker in turn. It goes to dead with the decode
/// error, never reaches the handler, and the next job runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_payload_goes_to_dead_and_the_next_job_runs() {
    let (redis, q) = start_queue().await;
    let unknown_kind = q
        .enqueue(JobRequest::new("teleport", json!({})))
        .await
        .expect("enqueue")
        .id;
    let wrong_field = q
        .enqueue(JobRequest::new("greet", json!({"nom": "x"})))
        .await
        .expect("enqueue")
        .id;
    let not_json = q
        .enqueue(JobRequest::new("greet", json!({"name": "x"})))
        .await
        .expect("enqueue")
        .id;
    // A producer that wrote Redis by hand and got it wrong:
    let mut c = redis.connection().expect("conn");
    let _: () = redis::cmd("HSET")
        .arg(format!("creel:q:{{default}}:job:{not_json}"))
        .arg("payload")
        .arg("{oops")
        .query(&mut c)
        .expect("hset");
    let good = q
        .enqueue(JobRequest::new("greet", json!({"name": "Ada"})))
        .await
        .expect("enqueue")
        .id;
    let handled = Arc::new(AtomicUsize::new(0));
    let h = handled.clone();
    let worker = run_worker!(
        RedisBackend::<Typed>::new(q.clone(), "default"),
        1,
        move |j: Typed| {
            let h = h.clone();
            async move {
                h.fetch_add(1, Ordering::SeqCst);
                let Typed::Greet { name } = j;
                Ok_::Ok(json!(format!("hello {name}")))
            }
        }
    );
    let rec = wait_for_state(&q, &good, JobState::Succeeded, Duration::from_secs(5)).await;
    assert_eq!(rec.result, Some(json!("hello Ada")));
    for (id, needle) in [
        (&unknown_kind, "teleport"),
        (&wrong_field, "name"),
        (&not_json, "not JSON"),
    ] {
        let rec = wait_for_state(&q, id, JobState::Failed, Duration::from_secs(5)).await;
        let err = rec.last_error.expect("error");
        assert!(err.contains(needle), "{err}");
        assert_eq!(events_for(&q, id).await.len(), 1);
    }
    worker.stop().await.expect("stop");
    assert_eq!(handled.load(Ordering::SeqCst), 1);
}

/// #7: a gracefully stopped worker stayed registered and could not restart under its name.
/// A stopped worker deregisters; a new one under the same configuration runs jobs at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_restarts_under_the_same_configuration() {
    let (_redis, q) = start_queue().await;
    for round in 0..3 {
        let backend = RedisBackend::<Value>::new(q.clone(), "default");
        let me = backend.worker_id().to_owned();
        let worker = run_worker!(backend, 2, |_j: Value| async { Ok_::Ok(Value::Null) });
        let id = q
            .enqueue(JobRequest::new("noop", json!({ "round": round })))
            .await
            .expect("enqueue")
            .id;
        wait_for_state(&q, &id, JobState::Succeeded, Duration::from_secs(5)).await;
        let live = q.workers(Duration::from_secs(60)).await.expect("workers");
        assert!(
            live.iter().any(|w| w.id == me),
            "{me} not registered in {live:?}"
        );
        worker.stop().await.expect("stop");
        let live = q.workers(Duration::from_secs(60)).await.expect("workers");
        assert!(
            !live.iter().any(|w| w.id == me),
            "{me} still registered after a graceful stop"
        );
    }
}

/// #9: listing and stats calls failed. Counts per state and paged listings are exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_and_counts_are_correct() {
    let (_redis, q) = start_queue().await;
    q.pause("default").await.expect("pause");
    let ready: Vec<_> = q
        .enqueue_batch(
            (0..7)
                .map(|i| JobRequest::new("noop", json!({ "i": i })))
                .collect(),
        )
        .await
        .expect("enqueue");
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    q.enqueue_batch(
        (0..3)
            .map(|_| JobRequest {
                run_at: Some(later),
                ..JobRequest::new("noop", json!({}))
            })
            .collect(),
    )
    .await
    .expect("enqueue scheduled");
    q.cancel(&ready[0].id).await.expect("cancel");
    let c = q.counts("default").await.expect("counts");
    assert_eq!(
        (
            c.get(JobState::Ready),
            c.get(JobState::Scheduled),
            c.get(JobState::Cancelled)
        ),
        (6, 3, 1)
    );
    assert!(c.paused);
    assert!(c.oldest_ready_ms.is_some());
    assert_eq!(
        q.queues().await.expect("queues"),
        vec!["default".to_owned()]
    );

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = q
            .list("default", JobState::Ready, cursor.as_deref(), 4)
            .await
            .expect("list");
        seen.extend(page.jobs.iter().map(|j| j.id.clone()));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let expected: Vec<_> = ready[1..].iter().map(|e| e.id.clone()).collect();
    assert_eq!(
        seen, expected,
        "pages must list every ready job once, in order"
    );
}

/// 'ready' and 'running' have no index set of their own: the ready list and the leases set are
/// theirs. While a worker holds some jobs, pages of running jobs list exactly the leased ones,
/// pages of ready jobs the rest in enqueue order, and the counts agree with both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_and_ready_jobs_are_listed_and_counted_from_the_list_and_the_leases() {
    let (_redis, q) = start_queue_with(|cfg| cfg.fetch_batch = 2).await;
    let ids = enqueue_noops(&q, 7).await;
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let g = gate.clone();
    let worker = run_worker!(
        RedisBackend::<Value>::new(q.clone(), "default"),
        2,
        move |_j: Value| {
            let g = g.clone();
            async move {
                let _permit = g
                    .acquire()
                    .await
                    .map_err(|e| JobError::permanent(e.to_string()))?;
                Ok_::Ok(Value::Null)
            }
        }
    );
    wait_for_count_at_least(&q, "default", JobState::Running, 2, Duration::from_secs(5)).await;
    let all_pages = |state| {
        let q = q.clone();
        async move {
            let mut seen = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let page = q
                    .list("default", state, cursor.as_deref(), 1)
                    .await
                    .expect("list");
                seen.extend(page.jobs.into_iter().map(|j| (j.id, j.state)));
                match page.next_cursor {
                    Some(c) => cursor = Some(c),
                    None => return seen,
                }
            }
        }
    };
    let running = all_pages(JobState::Running).await;
    let ready = all_pages(JobState::Ready).await;
    let c = q.counts("default").await.expect("counts");
    assert!(
        running.iter().all(|(_, s)| *s == JobState::Running),
        "{running:?}"
    );
    assert!(
        ready.iter().all(|(_, s)| *s == JobState::Ready),
        "{ready:?}"
    );
    assert_eq!(running.len() as u64, c.get(JobState::Running), "{c:?}");
    assert_eq!(ready.len() as u64, c.get(JobState::Ready), "{c:?}");
    // The worker leases from the front of the line, so the rest are the last ids, in order.
    let rest: Vec<_> = ids[running.len()..].to_vec();
    assert_eq!(
        ready.into_iter().map(|(id, _)| id).collect::<Vec<_>>(),
        rest
    );
    let mut leased: Vec<String> = running.iter().map(|(id, _)| id.to_string()).collect();
    let mut first: Vec<String> = ids[..leased.len()]
        .iter()
        .map(ToString::to_string)
        .collect();
    leased.sort();
    first.sort();
    assert_eq!(
        leased, first,
        "the worker leases from the front of the line"
    );

    gate.add_permits(ids.len());
    wait_for_count(
        &q,
        "default",
        JobState::Succeeded,
        ids.len() as u64,
        Duration::from_secs(10),
    )
    .await;
    assert!(all_pages(JobState::Running).await.is_empty());
    let c = q.counts("default").await.expect("counts");
    assert_eq!(
        (c.get(JobState::Running), c.get(JobState::Ready)),
        (0, 0),
        "{c:?}"
    );
    assert_eq!(c.oldest_ready_ms, None);
    worker.stop().await.expect("stop");
}

/// #10: one Redis reply slower than 500 ms took the worker pool down. Redis stalls for 1.5 s
/// mid-run; every job still finishes and the worker keeps going.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_redis_does_not_take_the_worker_down() {
    let (redis, q) = start_queue().await;
    let ids: Vec<_> = q
        .enqueue_batch(
            (0..100)
                .map(|i| JobRequest::new("noop", json!({ "i": i })))
                .collect(),
        )
        .await
        .expect("enqueue");
    let worker = run_worker!(
        RedisBackend::<Value>::new(q.clone(), "default"),
        4,
        |_j: Value| async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok_::Ok(Value::Null)
        }
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let url = redis.url();
    tokio::task::spawn_blocking(move || {
        let mut c = redis::Client::open(url)
            .expect("client")
            .get_connection()
            .expect("conn");
        let _: () = redis::cmd("DEBUG")
            .arg("SLEEP")
            .arg(1.5)
            .query(&mut c)
            .expect("debug sleep");
    })
    .await
    .expect("stall");
    wait_for_count(
        &q,
        "default",
        JobState::Succeeded,
        100,
        Duration::from_secs(30),
    )
    .await;
    // and it is still taking new work
    let after = q
        .enqueue(JobRequest::new("noop", json!({})))
        .await
        .expect("enqueue")
        .id;
    wait_for_state(&q, &after, JobState::Succeeded, Duration::from_secs(5)).await;
    worker.stop().await.expect("stop");
    for e in ids {
        assert_eq!(events_for(&q, &e.id).await.len(), 1);
    }
}

/// A Redis restart mid-run loses no job that Redis still holds: every job ends succeeded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_mid_run_loses_no_job() {
    let mut redis = RedisServer::start().expect("redis");
    let q = Queue::connect(test_config(&redis.url()))
        .await
        .expect("connect");
    q.enqueue_batch(
        (0..200)
            .map(|i| JobRequest::new("noop", json!({ "i": i })))
            .collect(),
    )
    .await
    .expect("enqueue");
    let worker = run_worker!(
        RedisBackend::<Value>::new(q.clone(), "default"),
        4,
        |_j: Value| async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            Ok_::Ok(Value::Null)
        }
    );
    wait_until_some_succeeded(&q, 20).await;
    redis.restart().expect("restart redis");
    wait_for_count(
        &q,
        "default",
        JobState::Succeeded,
        200,
        Duration::from_secs(60),
    )
    .await;
    worker.stop().await.expect("stop");
    let c = q.counts("default").await.expect("counts");
    assert_eq!(
        c.get(JobState::Failed) + c.get(JobState::Ready) + c.get(JobState::Running),
        0,
        "{c:?}"
    );
}

async fn wait_until_some_succeeded(q: &Queue, n: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while q
        .counts("default")
        .await
        .expect("counts")
        .get(JobState::Succeeded)
        < n
    {
        assert!(tokio::time::Instant::now() < deadline, "no progress");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
