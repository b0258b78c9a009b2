//! Operator actions against a real redis-server: cancel (queued and at a step boundary),
//! requeue from dead, pause/resume, multi-step jobs, progress, retention, batch validation.

use std::time::Duration;

use apalis_core::task::data::Data;
use creel_core::{JobError, JobRequest, JobState, RetryPolicy};
use creel_queue::{CancelOutcome, JobContext, QueueError, RedisBackend, StepOutcome};
use creel_tests::probe::{events_for, wait_for_count, wait_for_state};
use creel_tests::{run_worker, start_queue, start_queue_with};
use serde_json::{Value, json};

/// A job that polls: each step hands over to the next until `done`, with progress recorded.
/// Its first step fails once (a retry); the succeeded record no longer shows that error, and the
/// last step's lease token, which stays in the record, no longer lets anything write to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_step_job_hands_over_and_reports_progress() {
    let (_redis, q) = start_queue().await;
    let id = q
        .enqueue(JobRequest::new("poll", json!({})))
        .await
        .expect("enqueue")
        .id;
    let qq = q.clone();
    let last_step = std::sync::Arc::new(std::sync::Mutex::new(None::<JobContext>));
    let kept = last_step.clone();
    let worker = run_worker!(
        RedisBackend::<Value>::new(q.clone(), "default"),
        2,
        move |_j: Value, ctx: Data<JobContext>| {
            let q = qq.clone();
            let kept = kept.clone();
            async move {
                if ctx.step.is_none() && ctx.attempt == 1 {
                    return Err(JobError::retryable("the vendor was slow"));
                }
                let n: u32 = ctx
                    .step
                    .as_deref()
                    .and_then(|s| s.strip_prefix("poll-"))
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                q.report_progress(&ctx, &json!({ "polls": n }))
                    .await
                    .map_err(|e| JobError::retryable(e.to_string()))?;
                *kept.lock().expect("lock") = Some((*ctx).clone());
                if n < 3 {
                    Ok::<StepOutcome, JobError>(StepOutcome::Continue {
                        step: format!("poll-{}", n + 1),
                        after: Duration::from_millis(50),
                    })
                } else {
                    Ok(StepOutcome::Done(json!({ "polls": n })))
                }
            }
        }
    );
    let rec = wait_for_state(&q, &id, JobState::Succeeded, Duration::from_secs(10)).await;
    worker.stop().await.expect("stop");
    assert_eq!(rec.result, Some(json!({ "polls": 3 })));
    assert_eq!(rec.progress, Some(json!({ "polls": 3 })));
    assert_eq!(rec.step.as_deref(), Some("poll-3"));
    assert_eq!(
        rec.last_error, None,
        "an earlier attempt's error is not shown"
    );
    assert_eq!(events_for(&q, &id).await.len(), 1);
    let stale = last_step.lock().expect("lock").clone().expect("a step ran");
    assert!(
        !q.report_progress(&stale, &json!({ "polls": 99 }))
            .await
            .expect("progress"),
        "a finished step's token must not write to the record"
    );
    let rec = q.get(&id).await.expect("get").expect("job");
    assert_eq!(rec.progress, Some(json!({ "polls": 3 })));
}

/// Cancelling a queued job is immediate; cancelling a running one takes effect at its next
/// step boundary; a finished job cannot be cancelled; each cancel emits one event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_is_immediate_when_queued_and_at_the_step_boundary_when_running() {
    let (_redis, q) = start_queue().await;
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    let queued = q
        .enqueue(JobRequest {
            run_at: Some(later),
            ..JobRequest::new("poll", json!({}))
        })
        .await
        .expect("enqueue")
        .id;
    assert_eq!(
        q.cancel(&queued).await.expect("cancel"),
        CancelOutcome::Cancelled
    );
    assert_eq!(
        q.get(&queued).await.expect("get").expect("job").state,
        JobState::Cancelled
    );

    let running = q
        .enqueue(JobRequest::new("poll", json!({})))
        .await
        .expect("enqueue")
        .id;
    let (go_tx, go_rx) = tokio::sync::watch::channel(false);
    let worker = run_worker!(
        RedisBackend::<Value>::new(q.clone(), "default"),
        2,
        move |_j: Value| {
            let mut rx = go_rx.clone();
            async move {
                let _ = rx.wait_for(|go| *go).await;
                Ok::<StepOutcome, JobError>(StepOutcome::Continue {
                    step: "next".into(),
                    after: Duration::ZERO,
                })
            }
        }
    );
    wait_for_state(&q, &running, JobState::Running, Duration::from_secs(5)).await;
    assert_eq!(
        q.cancel(&running).await.expect("cancel"),
        CancelOutcome::Requested
    );
    assert!(
        q.get(&running)
            .await
            .expect("get")
            .expect("job")
            .cancel_requested
    );
    go_tx.send(true).expect("go");
    wait_for_state(&q, &running, JobState::Cancelled, Duration::from_secs(5)).await;
    worker.stop().await.expect("stop");
    for id in [&queued, &running] {
        let ev = events_for(&q, id).await;
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].event_type.as_str(), "creel.job.cancelled");
    }
    assert!(matches!(
        q.cancel(&running).await,
        Err(QueueError::WrongState { .. })
    ));
    let unknown = creel_core::JobId::generate();
    assert!(matches!(
        q.cancel(&unknown).await,
        Err(QueueError::NotFound(_))
    ));
}

/// A dead job requeued runs again as a new run with fresh attempts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_job_can_be_requeued() {
    let (_redis, q) = start_queue_with(|cfg| {
        cfg.default_retry = RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        };
    })
    .await;
    let id = q
        .enqueue(JobRequest::new("once", json!({})))
        .await
        .expect("enqueue")
        .id;
    let (ok_tx, ok_rx) = tokio::sync::watch::channel(false);
    let worker = run_worker!(
        RedisBackend::<Value>::new(q.clone(), "default"),
        1,
        move |_j: Value| {
            let ok = *ok_rx.borrow();
            async move {
                if ok {
                    Ok(json!("second run"))
                } else {
                    Err(JobError::retryable("flaky"))
                }
            }
        }
    );
    wait_for_state(&q, &id, JobState::Failed, Duration::from_secs(5)).await;
    assert!(matches!(q.requeue(&id).await, Ok(())));
    ok_tx.send(true).expect("send");
    // the first requeued run may still see the old flag value; requeue until it succeeds
    let rec = loop {
        let rec = q.get(&id).await.expect("get").expect("job");
        match rec.state {
            JobState::Succeeded => break rec,
            JobState::Failed => q.requeue(&id).await.expect("requeue"),
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    };
    worker.stop().await.expect("stop");
    assert!(rec.runs >= 2);
    assert_eq!(rec.attempts, 1);
    assert_eq!(
        rec.last_error, None,
        "a success clears the error of an earlier run"
    );
    assert!(matches!(
        q.requeue(&id).await,
        Err(QueueError::WrongState { .. })
    ));
}

/// A paused queue starts nothing; resuming wakes its workers at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_and_resume_a_queue() {
    let (_redis, q) = start_queue_with(|cfg| {
        cfg.idle_poll = Duration::from_secs(10);
    })
    .await;
    q.pause("default").await.expect("pause");
    let worker = run_worker!(
        RedisBackend::<Value>::new(q.clone(), "default"),
        2,
        |_j: Value| async { Ok::<Value, JobError>(Value::Null) }
    );
    let id = q
        .enqueue(JobRequest::new("noop", json!({})))
        .await
        .expect("enqueue")
        .id;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        q.get(&id).await.expect("get").expect("job").state,
        JobState::Ready
    );
    q.resume("default").await.expect("resume");
    wait_for_state(&q, &id, JobState::Succeeded, Duration::from_secs(2)).await;
    worker.stop().await.expect("stop");
}

/// Retention deletes finished jobs (and their idempotency keys) in bounded chunks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_trims_finished_jobs_in_chunks() {
    let (_redis, q) = start_queue().await;
    let reqs: Vec<_> = (0..250)
        .map(|i| JobRequest {
            idempotency_key: Some(format!("k{i}")),
            ..JobRequest::new("noop", json!({}))
        })
        .collect();
    let ids = q.enqueue_batch(reqs).await.expect("enqueue");
    let worker = run_worker!(
        RedisBackend::<Value>::new(q.clone(), "default"),
        8,
        |_j: Value| async { Ok::<Value, JobError>(Value::Null) }
    );
    wait_for_count(
        &q,
        "default",
        JobState::Succeeded,
        250,
        Duration::from_secs(20),
    )
    .await;
    worker.stop().await.expect("stop");
    let n = q
        .trim("default", JobState::Succeeded, Duration::ZERO, 100)
        .await
        .expect("trim");
    assert_eq!(n, 250);
    assert!(q.get(&ids[0].id).await.expect("get").is_none());
    assert_eq!(
        q.counts("default")
            .await
            .expect("counts")
            .get(JobState::Succeeded),
        0
    );
    let again = q
        .enqueue(JobRequest {
            idempotency_key: Some("k0".into()),
            ..JobRequest::new("noop", json!({}))
        })
        .await
        .expect("enqueue");
    assert!(
        again.created,
        "a trimmed job's idempotency key is free again"
    );
    assert!(
        q.trim("default", JobState::Running, Duration::ZERO, 100)
            .await
            .is_err()
    );
}

/// A batch with one invalid request writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_request_in_a_batch_writes_nothing() {
    let (redis, q) = start_queue().await;
    let bad = JobRequest::new("Not A Kind", json!({}));
    let err = q
        .enqueue_batch(vec![JobRequest::new("noop", json!({})), bad])
        .await
        .expect_err("invalid");
    assert!(err.to_string().contains("kind"), "{err}");
    assert!(q.queues().await.expect("queues").is_empty());
    let mut c = redis.connection().expect("conn");
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut c).expect("keys");
    // Only the layout mark the connection wrote.
    assert_eq!(keys, ["creel:layout"], "{keys:?}");
}

/// Listing a state with no jobs is an empty page, not an error (an empty Redis pipeline is).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_an_empty_state_gives_an_empty_page() {
    let (_redis, q) = start_queue().await;
    q.enqueue(JobRequest::new("noop", json!({})))
        .await
        .expect("enqueue");
    let page = q
        .list("default", JobState::Failed, None, 50)
        .await
        .expect("an empty state lists");
    assert!(
        page.jobs.is_empty() && page.next_cursor.is_none(),
        "{page:?}"
    );
    let ready = q
        .list("default", JobState::Ready, None, 50)
        .await
        .expect("list");
    assert_eq!(ready.jobs.len(), 1);
}

/// A child that ends wakes its parent: a parent scheduled an hour out becomes due when its
/// child succeeds in another queue, when its child is cancelled while queued, and when the
/// child had already ended before it was linked. A parent with a child still running stays
/// where it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_that_ends_wakes_its_parent() {
    let (_redis, q) = start_queue().await;
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    let parent = |q: &creel_queue::Queue| {
        let q = q.clone();
        async move {
            q.enqueue(JobRequest {
                run_at: Some(later),
                ..JobRequest::new("parent", json!({}))
            })
            .await
            .expect("parent")
            .id
        }
    };
    let child = |q: &creel_queue::Queue| {
        let q = q.clone();
        async move {
            q.enqueue(JobRequest {
                queue: "kids".into(),
                ..JobRequest::new("child", json!({}))
            })
            .await
            .expect("child")
            .id
        }
    };
    let due = |q: &creel_queue::Queue| {
        let q = q.clone();
        async move { q.backlog("default").await.expect("backlog").due }
    };

    // Cancelled while queued.
    let (p1, c1) = (parent(&q).await, child(&q).await);
    q.link_child(&p1, &c1).await.expect("link");
    assert_eq!(due(&q).await, 0, "an hour out, its child not ended");
    assert_eq!(
        q.cancel(&c1).await.expect("cancel"),
        CancelOutcome::Cancelled
    );
    assert_eq!(due(&q).await, 1, "woken by the cancelled child");

    // Ended before it was linked.
    let (p2, c2) = (parent(&q).await, child(&q).await);
    q.cancel(&c2).await.expect("cancel");
    assert_eq!(due(&q).await, 1);
    q.link_child(&p2, &c2).await.expect("link");
    assert_eq!(due(&q).await, 2, "linking an ended child wakes the parent");

    // Succeeded in a worker of another queue.
    let (p3, c3) = (parent(&q).await, child(&q).await);
    q.link_child(&p3, &c3).await.expect("link");
    let worker = run_worker!(
        RedisBackend::<Value>::new(q.clone(), "kids"),
        1,
        |_j: Value, _ctx: Data<JobContext>| async { Ok::<Value, JobError>(json!("done")) }
    );
    wait_for_state(&q, &c3, JobState::Succeeded, Duration::from_secs(10)).await;
    assert_eq!(due(&q).await, 3, "woken by the child that succeeded");
    worker.stop().await.expect("worker stops");
    for p in [&p1, &p2, &p3] {
        let rec = q.get(p).await.expect("get").expect("parent");
        assert_eq!(rec.state, JobState::Scheduled, "still scheduled, now due");
    }
}

/// A step that waits for its budget waits until its period ends, unless the budget is raised:
/// then it is due at once, even when the raise came while the refused step was still running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_raise_wakes_a_waiting_job_and_one_still_running() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    let (_redis, q) = start_queue().await;
    let waiting = q
        .enqueue(JobRequest::new("export", json!({"n": 1})))
        .await
        .expect("enqueue")
        .id;
    let running = q
        .enqueue(JobRequest::new("export", json!({"n": 2})))
        .await
        .expect("enqueue")
        .id;
    let runs = Arc::new([AtomicU32::new(0), AtomicU32::new(0)]);
    let (go_tx, go_rx) = tokio::sync::watch::channel(false);
    let seen = Arc::clone(&runs);
    let worker = run_worker!(
        RedisBackend::<Value>::new(q.clone(), "default"),
        2,
        move |j: Value| {
            let seen = Arc::clone(&seen);
            let mut go = go_rx.clone();
            async move {
                let n = j["payload"]["n"].as_u64().unwrap_or(1);
                let slot = usize::from(n == 2);
                let run = seen[slot].fetch_add(1, Ordering::SeqCst) + 1;
                if run > 1 {
                    return Ok::<StepOutcome, JobError>(StepOutcome::Done(json!("exported")));
                }
                if n == 2 {
                    // Refused while the budget is being raised.
                    let _ = go.wait_for(|g| *g).await;
                }
                Ok(StepOutcome::WaitForBudget {
                    reason: "account a: budget daily would be passed".into(),
                    after: Duration::from_secs(3600),
                })
            }
        }
    );
    let rec = wait_for_state(
        &q,
        &waiting,
        JobState::WaitingBudget,
        Duration::from_secs(5),
    )
    .await;
    assert!(
        rec.last_error
            .as_deref()
            .is_some_and(|e| e.contains("budget daily"))
    );
    assert_eq!(rec.attempts, 0, "waiting for a budget uses up no attempt");
    wait_for_state(&q, &running, JobState::Running, Duration::from_secs(5)).await;
    let woken = q
        .set_budget(
            "a",
            &creel_queue::BudgetOverride {
                daily: Some(Some(100.0)),
                ..creel_queue::BudgetOverride::default()
            },
        )
        .await
        .expect("raise");
    assert_eq!(woken, 2, "the waiting job and the running one");
    go_tx.send(true).expect("go");
    for id in [&waiting, &running] {
        wait_for_state(&q, id, JobState::Succeeded, Duration::from_secs(5)).await;
    }
    assert_eq!(runs[0].load(Ordering::SeqCst), 2);
    assert_eq!(runs[1].load(Ordering::SeqCst), 2);
    worker.stop().await.expect("stop");
}
