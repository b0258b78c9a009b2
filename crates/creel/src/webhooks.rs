//! Per-job webhooks, first half: a consumer group on the events stream turns each completion
//! event of a job that asked for a webhook into a `webhook` delivery job
//! ([`creel_jobs::webhook`]), keyed by the event id so an entry read twice (a crashed worker's,
//! reclaimed after a minute) enqueues one delivery. Enqueueing is one Redis call, so no
//! endpoint, dead or slow, holds up the events of other jobs here; the deliveries retry as jobs.

use std::sync::Arc;

use creel_core::{Config, Event};
use creel_jobs::webhook::WebhookSpec;
use creel_queue::Queue;
use tokio_util::sync::CancellationToken;

use crate::consumer::{Consumer, Handled};

const GROUP: &str = "creel-webhooks";

/// Enqueues webhook deliveries until `stop` is cancelled.
pub async fn route(queue: Queue, config: Arc<Config>, stop: CancellationToken) {
    Consumer::of_events(GROUP)
        .run_events(queue.clone(), stop, |entry| {
            let (queue, config) = (&queue, &config);
            async move {
                match entry.fields.get("event") {
                    Some(body) => enqueue_delivery(queue, config, body).await,
                    None => Handled::Done,
                }
            }
        })
        .await;
}

/// Enqueues the delivery of one event, if its job has a webhook; a Redis failure leaves the
/// entry pending, to be read again.
async fn enqueue_delivery(queue: &Queue, config: &Config, body: &str) -> Handled {
    let event = match serde_json::from_str::<Event>(body) {
        Ok(Event::Job(event)) => event,
        // The intake's answers to requests have no webhook.
        Ok(Event::Request(_)) => return Handled::Done,
        Err(e) => {
            tracing::warn!(error = %e, "skipping an event that does not parse");
            return Handled::Done;
        }
    };
    let job = match queue.get(&event.data.job_id).await {
        Ok(Some(job)) => job,
        Ok(None) => return Handled::Done,
        Err(e) => {
            tracing::warn!(job = %event.data.job_id, error = %e, "cannot read the job for its webhook");
            return Handled::Later;
        }
    };
    let queue_name = config.events.webhook.queue.as_deref();
    let Some(request) = WebhookSpec::request_for(&event, body, &job, queue_name) else {
        return Handled::Done;
    };
    match queue.enqueue(request).await {
        Ok(enqueued) => {
            if enqueued.created {
                tracing::debug!(job = %job.id, delivery = %enqueued.id, "webhook delivery enqueued");
            }
            Handled::Done
        }
        Err(e) => {
            tracing::warn!(job = %job.id, error = %e, "cannot enqueue the webhook delivery");
            Handled::Later
        }
    }
}
