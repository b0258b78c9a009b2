//! Tidying after cancellations: a consumer group on the events stream takes each
//! `creel.job.cancelled` event and asks creel-jobs what the job left outside Redis. A download
//! cancelled while it waited to resume has its multipart upload aborted; a classroom job's
//! vendor task, which vendors offer no way to cancel, is recorded on the job as abandoned. What
//! was done is kept in the job record as `cleanup`. A worker that crashes mid-way leaves the
//! entry pending, and another takes it over after a minute.

use creel_core::{CompletionEvent, Event, EventType};
use creel_jobs::JobDeps;
use creel_queue::Queue;
use tokio_util::sync::CancellationToken;

use crate::consumer::{Consumer, Handled};

const GROUP: &str = "creel-cleanup";

/// Tidies after cancelled jobs until `stop` is cancelled.
pub async fn run(queue: Queue, deps: JobDeps, stop: CancellationToken) {
    Consumer::of_events(GROUP)
        .run_events(queue.clone(), stop, |entry| {
            let (queue, deps) = (&queue, &deps);
            async move {
                // Only cancelled jobs leave something to tidy (request events and the other
                // completions do not; an event that does not parse is the webhooks' to report).
                let Some(Ok(Event::Job(event))) = entry
                    .fields
                    .get("event")
                    .map(|body| serde_json::from_str::<Event>(body))
                else {
                    return Handled::Done;
                };
                if event.event_type != EventType::Cancelled {
                    return Handled::Done;
                }
                tidy(queue, deps, &event).await
            }
        })
        .await;
}

async fn tidy(queue: &Queue, deps: &JobDeps, event: &CompletionEvent) -> Handled {
    let id = &event.data.job_id;
    let job = match queue.get(id).await {
        Ok(Some(job)) => job,
        Ok(None) => return Handled::Done, // trimmed
        Err(e) => {
            tracing::warn!(job = %id, error = %e, "cannot read a cancelled job; tidying later");
            return Handled::Later;
        }
    };
    if job.cleanup.is_some() {
        return Handled::Done; // tidied before a crash kept us from acknowledging
    }
    let Some(done) = creel_jobs::after_cancel(&job, deps).await else {
        return Handled::Done;
    };
    if done.get("abandoned_vendor_task").is_some() {
        tracing::warn!(job = %id, kind = %job.kind, cleanup = %done, "cancelled job leaves its vendor task running");
    } else {
        tracing::info!(job = %id, kind = %job.kind, cleanup = %done, "tidied after a cancelled job");
    }
    match queue.record_cleanup(id, &done).await {
        Ok(()) => Handled::Done,
        Err(e) => {
            tracing::warn!(job = %id, error = %e, "cannot record the cleanup; tidying again later");
            Handled::Later
        }
    }
}
