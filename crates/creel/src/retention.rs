//! Retention, run by every worker: once per `retention.every_secs` one worker of the fleet
//! (whichever claims the interval first) deletes finished jobs past their age, in chunks, with
//! their idempotency keys and child links, and trims the request stream. Events are capped
//! where they are appended (`events.max_len`); signals and claims carry their own TTLs.

use std::time::Duration;

use creel_core::JobState;
use creel_core::config::RetentionConfig;
use creel_queue::Queue;
use tokio_util::sync::CancellationToken;

/// Jobs deleted per script call.
const CHUNK: usize = 500;

/// Applies `cfg` every interval until `stop` is cancelled.
pub async fn run(queue: Queue, cfg: RetentionConfig, stop: CancellationToken) {
    let every = Duration::from_secs(cfg.every_secs.max(1));
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        let slot = chrono::Utc::now().timestamp() / i64::try_from(every.as_secs()).unwrap_or(60);
        match queue.claim_once(&format!("retention:{slot}"), every).await {
            Ok(true) => {}
            Ok(false) => continue, // another worker has this interval
            Err(e) => {
                tracing::warn!(error = %e, "retention skipped: cannot reach redis");
                continue;
            }
        }
        match apply(&queue, &cfg).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "retention deleted finished jobs"),
            Err(e) => tracing::warn!(error = %e, "retention pass failed; the next one continues"),
        }
    }
}

/// One pass: deletes every queue's finished jobs past their age and trims the request stream.
/// Returns how many jobs were deleted.
pub async fn apply(queue: &Queue, cfg: &RetentionConfig) -> Result<u64, creel_queue::QueueError> {
    let mut deleted = 0;
    for name in queue.queues().await? {
        for (state, secs) in [
            (JobState::Succeeded, cfg.succeeded_secs),
            (JobState::Failed, cfg.failed_secs),
            (JobState::Cancelled, cfg.cancelled_secs),
        ] {
            deleted += queue
                .trim(&name, state, Duration::from_secs(secs), CHUNK)
                .await?;
        }
    }
    queue.trim_requests(cfg.requests_max_len).await?;
    Ok(deleted)
}
