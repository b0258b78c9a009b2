//! The prefetch (`prefetch.rs`): a worker of short steps leases more jobs per call than its
//! fetch batch, up to `prefetch_max`; a worker of long steps never leases more than its batch.
//! Each record keeps the token of its last lease, `<worker>:<call>:<n>`, where `n` counts the
//! jobs that one call leased: the largest `n` is the most any one call leased.

use std::time::Duration;

use creel_core::{JobError, JobId, JobState};
use creel_queue::{Queue, RedisBackend};
use creel_tests::probe::{enqueue_noops, wait_for_count};
use creel_tests::{RedisServer, run_worker, test_config};
use serde_json::Value;

/// Enqueues `n` jobs, runs them on a worker of `slots` slots (fetch batch `slots`, prefetch up
/// to 16) whose steps take `step`, and returns the most jobs one lease call leased.
async fn most_leased_in_one_call(n: usize, slots: usize, step: Duration) -> usize {
    let redis = RedisServer::start().expect("redis");
    let mut cfg = test_config(&redis.url());
    cfg.fetch_batch = slots;
    cfg.prefetch_max = 16;
    let q = Queue::connect(cfg).await.expect("connect");
    let ids: Vec<JobId> = enqueue_noops(&q, n).await;
    let worker = run_worker!(
        RedisBackend::<Value>::new(q.clone(), "default"),
        slots,
        move |_j: Value| async move {
            tokio::time::sleep(step).await;
            Ok::<Value, JobError>(Value::Null)
        }
    );
    wait_for_count(
        &q,
        "default",
        JobState::Succeeded,
        n as u64,
        Duration::from_secs(60),
    )
    .await;
    worker.stop().await.expect("stop");
    let mut conn = redis.connection().expect("conn");
    let mut most = 0;
    for id in &ids {
        let token: String = redis::Commands::hget(
            &mut conn,
            format!("creel:q:{{default}}:job:{id}"),
            "lease_token",
        )
        .expect("lease token");
        let n: usize = token
            .rsplit(':')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("a lease token ends in its number: {token:?}"));
        most = most.max(n);
    }
    most
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_steps_lease_more_per_call_than_the_batch_but_never_past_the_cap() {
    let most = most_leased_in_one_call(400, 2, Duration::ZERO).await;
    assert!(
        (3..=16).contains(&most),
        "no-op steps on 2 slots: some call leases more than the batch of 2, none more than \
         prefetch_max 16; the most was {most}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_steps_keep_the_fetch_batch() {
    // 2 slots × 20 ms ÷ 60 ms per step: under one job more would start in time.
    let most = most_leased_in_one_call(12, 2, Duration::from_millis(60)).await;
    assert!(
        most <= 2,
        "60 ms steps on 2 slots: no call leases more than the batch of 2; the most was {most}"
    );
}
