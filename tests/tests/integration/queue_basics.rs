//! The queue end to end against a real redis-server: enqueue, run, records, events.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use apalis_core::task::data::Data;
use creel_core::{JobError, JobRequest, JobState};
use creel_queue::{JobContext, RedisBackend, StepOutcome};
use creel_tests::probe::wait_for_state;
use creel_tests::{run_worker, start_queue, start_queue_with};
use serde_json::{Value, json};

#[tokio::test]
async fn a_job_runs_once_and_emits_one_success_event() {
    let (_redis, q) = start_queue().await;
    let id = q
        .enqueue(JobRequest::new("echo", json!({"n": 7})))
        .await
        .expect("enqueue")
        .id;

    let runs = Arc::new(AtomicUsize::new(0));
    let r = runs.clone();
    let backend = RedisBackend::<Value>::new(q.clone(), "default");
    let worker = run_worker!(backend, 4, move |job: Value, ctx: Data<JobContext>| {
        let r = r.clone();
        async move {
            r.fetch_add(1, Ordering::SeqCst);
            assert_eq!(ctx.kind, "echo");
            Ok::<_, JobError>(json!({"echo": job["payload"]["n"]}))
        }
    });
    let rec = wait_for_state(&q, &id, JobState::Succeeded, Duration::from_secs(10)).await;
    worker.stop().await.expect("stop");
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(rec.result, Some(json!({"echo": 7})));
    assert_eq!(rec.attempts, 1);
    let events = q.read_events("default", "0", 100).await.expect("events");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event.subject, id.to_string());
    assert_eq!(events[0].event.event_type.as_str(), "creel.job.succeeded");
    assert_eq!(events[0].event.data.result, Some(json!({"echo": 7})));
    let _ = StepOutcome::from(());
}

/// Every key the queue writes lives under the configured prefix, so two deployments can share
/// one Redis.
#[tokio::test]
async fn every_key_lives_under_the_configured_prefix() {
    let (redis, q) = start_queue_with(|cfg| {
        cfg.prefix = "tenant-a".into();
    })
    .await;
    let id = q
        .enqueue(JobRequest {
            idempotency_key: Some("k".into()),
            ..JobRequest::new("echo", json!({}))
        })
        .await
        .expect("enqueue")
        .id;
    let backend = RedisBackend::<Value>::new(q.clone(), "default");
    let worker = run_worker!(backend, 1, |_j: Value| async {
        Ok::<_, JobError>(Value::Null)
    });
    wait_for_state(&q, &id, JobState::Succeeded, Duration::from_secs(10)).await;
    worker.stop().await.expect("stop");
    let mut c = redis.connection().expect("conn");
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut c).expect("keys");
    assert!(
        keys.iter().any(|k| k == "tenant-a:q:{default}:events"),
        "{keys:?}"
    );
    assert!(keys.iter().all(|k| k.starts_with("tenant-a:")), "{keys:?}");
}
