//! `redis.wait_replicas`: an enqueue returns only once a replica holds the job (so a failover
//! after the answer loses nothing), and without the replica it fails instead of pretending;
//! the caller's retry with the same idempotency key returns the same job, not a second one.

use std::time::{Duration, Instant};

use creel_core::JobRequest;
use creel_queue::Queue;
use creel_queue::QueueError;
use creel_queue::embedded::RedisServer;
use creel_tests::test_config;
use redis::Commands;
use serde_json::json;

/// Makes `replica` a replica of `primary` and waits until the link is up.
fn replicate(replica: &RedisServer, primary: &RedisServer) {
    let port = primary
        .url()
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .expect("a port")
        .to_owned();
    // A full sync starts at once instead of after the default 5 s diskless delay.
    let mut p = primary.connection().expect("primary");
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("repl-diskless-sync-delay")
        .arg("0")
        .query(&mut p)
        .expect("CONFIG SET");
    let mut c = replica.connection().expect("replica");
    let _: () = redis::cmd("REPLICAOF")
        .arg("127.0.0.1")
        .arg(&port)
        .query(&mut c)
        .expect("REPLICAOF");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let info: String = redis::cmd("INFO")
            .arg("replication")
            .query(&mut c)
            .expect("INFO");
        let primary_info: String = redis::cmd("INFO")
            .arg("replication")
            .query(&mut p)
            .expect("INFO");
        if info.contains("master_link_status:up") && primary_info.contains("state=online") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the replica did not link: {info}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A single primary (replication of one server is what this file tests; a cluster's replicas
/// are the failover test's) and a queue on it.
async fn primary_and_queue(
    edit: impl FnOnce(&mut creel_queue::QueueConfig),
) -> (RedisServer, Queue) {
    let primary = RedisServer::start().expect("primary");
    let mut cfg = test_config(&primary.url());
    edit(&mut cfg);
    let q = Queue::connect(cfg).await.expect("queue");
    (primary, q)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enqueue_returns_once_a_replica_holds_the_job() {
    let (primary, q) = primary_and_queue(|cfg| {
        cfg.wait_replicas = 1;
        cfg.wait_timeout = Duration::from_secs(1);
    })
    .await;
    let mut replica = RedisServer::start().expect("replica");
    replicate(&replica, &primary);

    let job = q
        .enqueue(JobRequest::new("download", json!({})))
        .await
        .expect("replicated enqueue");
    // Read at once from the replica: WAIT returned, so the write is there.
    let mut r = replica.connection().expect("replica");
    let kind: Option<String> = r
        .hget(format!("creel:q:{{default}}:job:{}", job.id), "kind")
        .expect("HGET on the replica");
    assert_eq!(kind.as_deref(), Some("download"));

    // Without its replica the enqueue is written on the primary but not acknowledged.
    replica.stop().expect("stopping the replica");
    let keyed = || JobRequest {
        idempotency_key: Some("lesson-7".into()),
        ..JobRequest::new("download", json!({}))
    };
    match q.enqueue(keyed()).await {
        Err(QueueError::NotReplicated {
            wanted: 1,
            acked: 0,
        }) => {}
        other => panic!("expected NotReplicated, got {other:?}"),
    }
    // The caller retries with the same key once a replica is back: the same job, not a second.
    replica.restart().expect("restarting the replica");
    replicate(&replica, &primary);
    let again = q.enqueue(keyed()).await.expect("retried enqueue");
    assert!(
        !again.created,
        "the retry found the job the first attempt wrote"
    );
    let mut p = primary.connection().expect("primary");
    let jobs: Vec<String> = p.keys("creel:q:*:job:*").expect("KEYS");
    assert_eq!(jobs.len(), 2, "{jobs:?}");
}
