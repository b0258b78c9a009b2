//! creel on a Sentinel-watched Redis (one primary, two replicas, three Sentinels, all started
//! by the harness): the primary is SIGKILLed while the failover workload runs with
//! `wait_replicas = 1`; the Sentinels promote a replica, creel follows it (its connections look
//! the primary up again), and no accepted job is lost, none ends twice, and the limiter never
//! grants more than its quota in a window.

use std::time::{Duration, Instant};

use creel_tests::failover;
use creel_tests::redis_sentinel::SentinelSet;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_primary_is_followed_through_a_sentinel_failover() {
    let mut set = SentinelSet::start(2).expect("primary, replicas and Sentinels");
    let target = set.target();
    let mut killed = None;
    failover::run_through_failover(target, |accepted| {
        if killed.is_none() && accepted >= failover::JOBS / 3 {
            killed = Some(set.kill_primary().expect("kill the primary"));
            return Some(Instant::now());
        }
        None
    })
    .await;
    let old = killed.expect("the primary was killed");
    let new = set
        .wait_promoted(old, 1, Duration::from_secs(30))
        .expect("a replica was promoted");
    assert_ne!(new, old);
}
