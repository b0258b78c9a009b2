//! Data written in the key layout before Redis Cluster support (by that version's own enqueue
//! script, kept in `tests/fixtures/layout-v1/`) is refused until `creel migrate`'s function
//! moves it; afterwards every job is found by id, runs to its end, keeps its idempotency key,
//! and signals and limiter state are where today's code looks.

use std::time::Duration;

use creel_core::{JobError, JobId, JobRequest, JobState};
use creel_queue::{Queue, QueueError, RedisBackend};
use creel_tests::probe::wait_for_state;
use creel_tests::{RedisServer, run_worker, test_config};
use serde_json::{Value, json};

const OLD_PRELUDE: &str = include_str!("../../fixtures/layout-v1/prelude.lua");
const OLD_ENQUEUE: &str = include_str!("../../fixtures/layout-v1/enqueue.lua");

/// Enqueues `(id, idempotency slot, payload)` jobs into `default` the way the old version did.
fn old_enqueue(redis: &RedisServer, jobs: &[(&JobId, &str, Value)]) {
    let mut c = redis.connection().expect("conn");
    let script = redis::Script::new(&format!("{OLD_PRELUDE}\n{OLD_ENQUEUE}"));
    let mut inv = script.prepare_invoke();
    inv.arg("creel").arg("default").arg(0);
    for (id, slot, payload) in jobs {
        inv.arg(id.as_str())
            .arg(*slot)
            .arg(0)
            .arg("echo")
            .arg("")
            .arg(payload.to_string())
            .arg("")
            .arg("owner")
            .arg("")
            .arg(if slot.is_empty() { "" } else { "k1" })
            .arg("");
    }
    let _: redis::Value = inv.invoke(&mut c).expect("the old enqueue script");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_layout_data_is_refused_then_migrated_and_runs() {
    let redis = RedisServer::start().expect("redis");
    let cfg = test_config(&redis.url());
    let ids = JobId::generate_batch(3);
    let keyed = JobRequest {
        idempotency_key: Some("k1".into()),
        created_by: Some("owner".into()),
        ..JobRequest::new("echo", json!({}))
    };
    let slot = keyed.idempotency_slot().expect("a slot");
    old_enqueue(
        &redis,
        &[
            (&ids[0], "", json!({"n": 0})),
            (&ids[1], &slot, json!({"n": 1})),
            (&ids[2], "", json!({"n": 2})),
        ],
    );
    {
        let mut c = redis.connection().expect("conn");
        let _: () = redis::cmd("SET")
            .arg("creel:signal:plaso:acct:r1")
            .arg(r#"{"status":"done"}"#)
            .arg("EX")
            .arg(3600)
            .query(&mut c)
            .expect("old signal");
        let _: () = redis::cmd("SET")
            .arg("creel:limit:plaso:acct:tat")
            .arg(12345)
            .query(&mut c)
            .expect("old limiter TAT");
    }

    // An upgraded process refuses to start on the old layout instead of ignoring its jobs.
    match Queue::connect(cfg.clone()).await {
        Err(QueueError::OldLayout(found)) => assert!(found.starts_with("creel:"), "{found}"),
        other => panic!("expected OldLayout, got {other:?}"),
    }

    let moved = creel_queue::migrate(&cfg).await.expect("migrate");
    assert_eq!(
        (moved.queues, moved.jobs, moved.signals, moved.limiter),
        (1, 3, 1, 1),
        "{moved:?}"
    );
    // The old `state:ready` index is gone, not moved: the ready list is that state's index.
    assert_eq!(moved.obsolete, 1, "{moved:?}");
    let again = creel_queue::migrate(&cfg).await.expect("migrate again");
    assert_eq!(
        again,
        creel_queue::Migrated::default(),
        "a second run moves nothing"
    );

    let q = Queue::connect(cfg)
        .await
        .expect("connect after the migration");
    for id in &ids {
        let rec = q.get(id).await.expect("get").expect("found by id");
        assert_eq!(rec.state, JobState::Ready, "{rec:?}");
    }
    // The idempotency key still names its job.
    let repeat = q.enqueue(keyed).await.expect("enqueue");
    assert_eq!((repeat.id, repeat.created), (ids[1].clone(), false));
    assert_eq!(
        q.signal_payload("plaso:acct:r1").await.expect("signal"),
        Some(json!({"status": "done"}))
    );
    let mut c = redis.connection().expect("conn");
    let tat: Option<u64> = redis::cmd("GET")
        .arg("creel:limit:{plaso:acct}:tat")
        .query(&mut c)
        .expect("GET");
    assert_eq!(
        tat,
        Some(12345),
        "the limiter's TAT moved under its account's hash tag"
    );

    let backend = RedisBackend::<Value>::new(q.clone(), "default");
    let worker = run_worker!(backend, 2, |job: Value| async move {
        Ok::<_, JobError>(json!({"echo": job["payload"]["n"]}))
    });
    for (n, id) in ids.iter().enumerate() {
        let rec = wait_for_state(&q, id, JobState::Succeeded, Duration::from_secs(10)).await;
        assert_eq!(rec.result, Some(json!({"echo": n})));
    }
    worker.stop().await.expect("stop");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("creel:job:*")
        .query(&mut c)
        .expect("KEYS");
    assert!(
        keys.is_empty(),
        "no record left in the old layout: {keys:?}"
    );
}
