//! `just demo`: the queue end to end on embedded defaults. Starts a private redis-server,
//! enqueues a few jobs (one delayed, one duplicate, one that fails twice before it succeeds),
//! runs an apalis worker on creel-queue, and prints the records and completion events.

use std::time::Duration;

use creel_core::{JobError, JobRequest, JobState, RetryPolicy};
use creel_queue::{JobContext, Queue, RedisBackend, StepOutcome};
use creel_tests::{RedisServer, run_worker, test_config};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let redis = RedisServer::start()?;
    say(&format!(
        "started a private redis-server at {}",
        redis.url()
    ));
    let mut cfg = test_config(&redis.url());
    cfg.retry.insert(
        "flaky".into(),
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(1),
            jitter: 0.2,
        },
    );
    let q = Queue::connect(cfg).await?;
    let in_two_seconds = chrono::Utc::now() + chrono::Duration::seconds(2);
    let mut requests = vec![
        JobRequest {
            idempotency_key: Some("lesson-1".into()),
            ..JobRequest::new("echo", json!({"lesson": 1}))
        },
        JobRequest {
            idempotency_key: Some("lesson-1".into()),
            ..JobRequest::new("echo", json!({"lesson": 1}))
        },
        JobRequest::new("flaky", json!({"fail_times": 2})),
        JobRequest {
            run_at: Some(in_two_seconds),
            ..JobRequest::new("echo", json!({"lesson": 2}))
        },
    ];
    requests.push(JobRequest::new("poll", json!({"polls": 3})));
    let enqueued = q.enqueue_batch(requests).await?;
    for e in &enqueued {
        say(&format!("enqueued {} (new: {})", e.id, e.created));
    }

    let worker = run_worker!(
        RedisBackend::<Value>::new(q.clone(), "default"),
        4,
        |job: Value, ctx: apalis_core::task::data::Data<JobContext>| async move {
            match job["kind"].as_str() {
                Some("flaky") if ctx.attempt <= 2 => Err(JobError::retryable(format!(
                    "vendor timeout on attempt {}",
                    ctx.attempt
                ))),
                Some("poll") => {
                    let n: u32 = ctx
                        .step
                        .as_deref()
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(0);
                    if n < 3 {
                        Ok(StepOutcome::Continue {
                            step: (n + 1).to_string(),
                            after: Duration::from_millis(300),
                        })
                    } else {
                        Ok(StepOutcome::Done(json!({"polled": n})))
                    }
                }
                _ => Ok(StepOutcome::Done(json!({"echo": job["payload"]}))),
            }
        }
    );

    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let c = q.counts("default").await?;
        if c.get(JobState::Succeeded) + c.get(JobState::Failed) == 4 {
            break;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "jobs did not finish in 30 s: {c:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    worker.stop().await?;
    for e in q.read_events("0", 100).await? {
        say(&format!(
            "event {} {} -> {}",
            e.event.event_type.as_str(),
            e.event.subject,
            serde_json::to_string(&e.event.data)?
        ));
    }
    let c = q.counts("default").await?;
    say(&format!(
        "succeeded {}, failed {}",
        c.get(JobState::Succeeded),
        c.get(JobState::Failed)
    ));
    anyhow::ensure!(
        c.get(JobState::Succeeded) == 4,
        "every demo job should succeed"
    );
    Ok(())
}

#[allow(clippy::print_stdout)]
fn say(line: &str) {
    println!("{line}");
}
