//! Helpers shared by the integration tests: waiting for a job state, counting events.

use std::time::Duration;

use creel_core::{JobId, JobRequest, JobState};
use creel_queue::{JobRecord, Queue};

/// Enqueues `n` no-op jobs (payload `{"i": <n>}`) in one batch and returns their ids in order.
pub async fn enqueue_noops(q: &Queue, n: usize) -> Vec<JobId> {
    q.enqueue_batch(
        (0..n)
            .map(|i| JobRequest::new("noop", serde_json::json!({ "i": i })))
            .collect(),
    )
    .await
    .expect("enqueue")
    .into_iter()
    .map(|e| e.id)
    .collect()
}

/// Polls the job record until it reaches `state`; panics with the record after `within`.
pub async fn wait_for_state(q: &Queue, id: &JobId, state: JobState, within: Duration) -> JobRecord {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let rec = q
            .get(id)
            .await
            .expect("reading the job")
            .expect("the job exists");
        if rec.state == state {
            return rec;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "job {id} is {} after {within:?}, wanted {state}: {rec:?}",
            rec.state
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls the job record every `every` until it is terminal (for the benchmarks, which have no
/// deadline: a stuck job is what they measure).
pub async fn wait_terminal(q: &Queue, id: &JobId, every: Duration) -> anyhow::Result<JobRecord> {
    loop {
        let rec = q
            .get(id)
            .await?
            .ok_or_else(|| anyhow::format_err!("job {id} vanished"))?;
        if rec.state.is_terminal() {
            return Ok(rec);
        }
        tokio::time::sleep(every).await;
    }
}

/// Polls the queue's counts until `state` has `n` jobs; panics after `within`.
pub async fn wait_for_count(q: &Queue, queue: &str, state: JobState, n: u64, within: Duration) {
    let wanted = format!("{n}");
    let every = Duration::from_millis(50);
    poll_count(q, queue, state, within, every, &wanted, |c| c == n).await;
}

/// Polls the queue's counts every 2 ms until `state` has at least `n` jobs (for a test that
/// acts while the rest are still under way); panics after `within`.
pub async fn wait_for_count_at_least(
    q: &Queue,
    queue: &str,
    state: JobState,
    n: u64,
    within: Duration,
) {
    let wanted = format!("at least {n}");
    let every = Duration::from_millis(2);
    poll_count(q, queue, state, within, every, &wanted, |c| c >= n).await;
}

async fn poll_count(
    q: &Queue,
    queue: &str,
    state: JobState,
    within: Duration,
    every: Duration,
    wanted: &str,
    done: impl Fn(u64) -> bool,
) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let c = q.counts(queue).await.expect("counts");
        if done(c.get(state)) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{state} is {} after {within:?}, wanted {wanted}: {c:?}",
            c.get(state)
        );
        tokio::time::sleep(every).await;
    }
}

/// Every completion event on its queue's stream for one job.
pub async fn events_for(q: &Queue, id: &JobId) -> Vec<creel_core::CompletionEvent> {
    let queue = q
        .queue_of(id.as_str())
        .await
        .expect("the job-id index")
        .unwrap_or_else(|| panic!("job {id} is in no queue"));
    let mut out = Vec::new();
    let mut after = "0".to_owned();
    loop {
        let page = q
            .read_events(&queue, &after, 1000)
            .await
            .expect("reading events");
        let Some(last) = page.last() else { return out };
        after = last.stream_id.clone();
        out.extend(
            page.into_iter()
                .map(|e| e.event)
                .filter(|e| e.subject == id.as_str()),
        );
    }
}
