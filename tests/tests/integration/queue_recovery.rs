//! Crash recovery and the at-most-one-outcome rule: a kill -9'd worker's job runs again on a
//! fresh worker within the lease time, and a step that runs twice still emits one event.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use creel_core::{JobError, JobRequest, JobState};
use creel_queue::RedisBackend;
use creel_tests::probe::{events_for, wait_for_count_at_least, wait_for_state};
use creel_tests::{run_worker, start_queue, start_queue_with};
use redis::Commands;
use serde_json::{Value, json};

/// #8: a kill -9'd worker's jobs came back only after 5 minutes, and only if another worker was
/// alive. Here the killed worker is the only one; a fresh worker started afterwards runs the
/// job again about one lease (2 s) after the kill.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_workers_job_runs_again_on_a_fresh_worker_within_the_lease() {
    let (redis, q) = start_queue().await;
    let id = q
        .enqueue(JobRequest::new("hang", json!({})))
        .await
        .expect("enqueue")
        .id;
    kill_a_probe_running(&redis, &id, 2000);
    let killed = Instant::now();
    assert_eq!(
        q.get(&id).await.expect("get").expect("job").state,
        JobState::Running
    );

    let worker = run_worker!(
        RedisBackend::<Value>::new(q.clone(), "default"),
        1,
        |_j: Value| async { Ok::<Value, JobError>(json!("recovered")) }
    );
    let rec = wait_for_state(&q, &id, JobState::Succeeded, Duration::from_secs(15)).await;
    let took = killed.elapsed();
    worker.stop().await.expect("stop");
    assert!(
        took < Duration::from_secs(6),
        "recovery took {took:?} with a 2 s lease"
    );
    assert_eq!(rec.lease_losses, 1);
    assert_eq!(rec.attempts, 1, "a lost lease does not use up an attempt");
    assert_eq!(events_for(&q, &id).await.len(), 1);
}

/// The last step of a job runs twice (its first worker stalled past its lease and the job was
/// given to another); both runs finish, and exactly one terminal event is emitted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_one_terminal_event_when_the_last_step_runs_twice() {
    let (redis, q) = start_queue().await;
    let id = q
        .enqueue(JobRequest::new("twice", json!({})))
        .await
        .expect("enqueue")
        .id;
    let runs = Arc::new(AtomicUsize::new(0));
    let (release_tx, release_rx) = tokio::sync::watch::channel(false);

    // Worker A starts the step and stalls until released.
    let r = runs.clone();
    let rx = release_rx.clone();
    let a = run_worker!(
        RedisBackend::<Value>::new(q.clone(), "default"),
        1,
        move |_j: Value| {
            let r = r.clone();
            let mut rx = rx.clone();
            async move {
                r.fetch_add(1, Ordering::SeqCst);
                let _ = rx.wait_for(|go| *go).await;
                Ok::<Value, JobError>(json!("from A"))
            }
        }
    );
    wait_for_state(&q, &id, JobState::Running, Duration::from_secs(5)).await;
    // A stall long enough to lose the lease: expire it by hand.
    let mut c = redis.connection().expect("conn");
    let _: () = c
        .zadd("creel:q:{default}:leases", id.as_str(), 0)
        .expect("expire the lease");

    // Worker B's reaper gives the job back; B runs it to the end.
    let r = runs.clone();
    let b = run_worker!(
        RedisBackend::<Value>::new(q.clone(), "default"),
        1,
        move |_j: Value| {
            let r = r.clone();
            async move {
                r.fetch_add(1, Ordering::SeqCst);
                Ok::<Value, JobError>(json!("from B"))
            }
        }
    );
    let rec = wait_for_state(&q, &id, JobState::Succeeded, Duration::from_secs(10)).await;
    assert_eq!(rec.result, Some(json!("from B")));
    release_tx.send(true).expect("release A");
    a.stop().await.expect("stop A");
    b.stop().await.expect("stop B");
    assert_eq!(runs.load(Ordering::SeqCst), 2, "the step ran twice");
    let events = events_for(&q, &id).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        q.get(&id).await.expect("get").expect("job").result,
        Some(json!("from B"))
    );
}

/// A graceful stop lets the running step finish and gives back the jobs it had leased but not
/// started, at once (not after a lease), with their attempts refunded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_stop_gives_back_unstarted_leases_at_once() {
    let (_redis, q) = start_queue_with(|cfg| {
        cfg.lease = Duration::from_secs(60);
    })
    .await;
    let ids = q
        .enqueue_batch(
            (0..6)
                .map(|i| JobRequest::new("slow", json!({ "i": i })))
                .collect(),
        )
        .await
        .expect("enqueue");
    let worker = run_worker!(
        RedisBackend::<Value>::new(q.clone(), "default"),
        1,
        |_j: Value| async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            Ok::<Value, JobError>(Value::Null)
        }
    );
    wait_for_state(&q, &ids[0].id, JobState::Running, Duration::from_secs(5)).await;
    // the worker leased a batch; the first step is running, the rest wait in its buffer
    let c = q.counts("default").await.expect("counts");
    assert!(c.get(JobState::Running) > 1, "{c:?}");
    worker.stop().await.expect("graceful stop");
    assert_only_done_or_ready_again(&q, &ids).await;
}

/// After a graceful stop no job is running, and each is done or ready again with no attempt
/// used up by a lease no step started. Returns how many are ready again.
async fn assert_only_done_or_ready_again(
    q: &creel_queue::Queue,
    ids: &[creel_queue::Enqueued],
) -> u64 {
    let c = q.counts("default").await.expect("counts");
    assert_eq!(c.get(JobState::Running), 0, "{c:?}");
    assert_eq!(
        c.get(JobState::Succeeded) + c.get(JobState::Ready),
        ids.len() as u64,
        "{c:?}"
    );
    for e in ids {
        let rec = q.get(&e.id).await.expect("get").expect("job");
        if rec.state == JobState::Ready {
            assert_eq!(
                rec.attempts, 0,
                "an unstarted lease must not use up an attempt"
            );
        }
    }
    c.get(JobState::Ready)
}

/// A busy worker leases its next jobs in the same call that records its outcomes. A graceful
/// stop in the middle of that still gives back every job no step started: none stays
/// running, none lost an attempt, and every one is either done or ready again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_stop_while_outcomes_lease_the_next_jobs_leaves_none_running() {
    let (_redis, q) = start_queue_with(|cfg| {
        cfg.lease = Duration::from_secs(60);
        cfg.fetch_batch = 4;
    })
    .await;
    let ids = q
        .enqueue_batch(
            (0..200)
                .map(|i| JobRequest::new("short", json!({ "i": i })))
                .collect(),
        )
        .await
        .expect("enqueue");
    let worker = run_worker!(
        RedisBackend::<Value>::new(q.clone(), "default"),
        4,
        |_j: Value| async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            Ok::<Value, JobError>(Value::Null)
        }
    );
    // the worker got going
    wait_for_count_at_least(
        &q,
        "default",
        JobState::Succeeded,
        40,
        Duration::from_secs(20),
    )
    .await;
    worker.stop().await.expect("graceful stop");
    let ready = assert_only_done_or_ready_again(&q, &ids).await;
    assert!(ready > 0, "the stop came too late to test anything");
}

/// Starts a probe worker with a lease of `lease_ms`, waits until it runs `id`, and kills it
/// with -9.
fn kill_a_probe_running(redis: &creel_tests::TestRedis, id: &creel_core::JobId, lease_ms: u64) {
    let mut c = redis.connection().expect("conn");
    let _: () = c.del("probe:started").expect("del");
    let mut child = Command::new(env!("CARGO_BIN_EXE_queue-probe"))
        .args([redis.spec(), lease_ms.to_string()])
        .stdout(Stdio::null())
        .spawn()
        .expect("start the probe worker");
    let deadline = Instant::now() + Duration::from_secs(20);
    while c
        .get::<_, Option<String>>("probe:started")
        .expect("get")
        .as_deref()
        != Some(id.as_str())
    {
        assert!(Instant::now() < deadline, "the probe never started the job");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("kill -9");
    let _ = child.wait();
}

/// #18: each kill -9 of the worker running a job cost the job an attempt (7 of 8 were used
/// after 5 kills). A lost lease is counted apart: after two kills a job allowed one attempt
/// still runs, and one allowed fewer lease losses than it suffered fails saying so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_leases_are_counted_apart_from_attempts() {
    use creel_core::RetryPolicy;
    let (redis, q) = start_queue_with(|cfg| {
        cfg.retry.insert(
            "survivor".into(),
            RetryPolicy {
                max_attempts: 1,
                max_lease_losses: 2,
                ..RetryPolicy::default()
            },
        );
        cfg.retry.insert(
            "crasher".into(),
            RetryPolicy {
                max_attempts: 5,
                max_lease_losses: 1,
                ..RetryPolicy::default()
            },
        );
    })
    .await;
    let mut outcomes = Vec::new();
    for kind in ["survivor", "crasher"] {
        let id = q
            .enqueue(JobRequest::new(kind, json!({})))
            .await
            .expect("enqueue")
            .id;
        kill_a_probe_running(&redis, &id, 800);
        // The next probe leases it only once the reaper has given it back.
        kill_a_probe_running(&redis, &id, 800);
        let worker = run_worker!(
            RedisBackend::<Value>::new(q.clone(), "default"),
            1,
            |_j: Value| async { Ok::<Value, JobError>(json!("ran")) }
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        let rec = loop {
            let rec = q.get(&id).await.expect("get").expect("job");
            if rec.state.is_terminal() {
                break rec;
            }
            assert!(Instant::now() < deadline, "not finished: {rec:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        worker.stop().await.expect("stop");
        assert_eq!(rec.lease_losses, 2, "{kind}: {rec:?}");
        outcomes.push((kind, rec));
    }
    let (_, survivor) = &outcomes[0];
    assert_eq!(survivor.state, JobState::Succeeded, "{survivor:?}");
    assert_eq!(survivor.attempts, 1, "two kills used no attempt");
    let (_, crasher) = &outcomes[1];
    assert_eq!(crasher.state, JobState::Failed, "{crasher:?}");
    let err = crasher.last_error.as_deref().unwrap_or_default();
    assert!(
        err.contains("lease lost 2 times") && err.contains("max_lease_losses 1"),
        "{err}"
    );
}
