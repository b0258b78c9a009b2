//! The Redis-stream intake: producers `XADD <prefix>:requests * request '<job request JSON>'`;
//! creel validates each request exactly as `POST /v1/jobs` does, enqueues it, and appends the
//! outcome to `<prefix>:events` as a CloudEvent whose `subject` is the request's stream id:
//! `creel.request.accepted` (`data.job_id`, `data.created`) or `creel.request.rejected`
//! (`data.field`, `data.reason`). Every request is owned by the configured
//! `api.stream_principal`, whatever its `created_by` says.

use std::sync::Arc;
use std::time::Duration;

use creel_core::{IdempotencyScope, JobRequest, JobRequestError, RequestEvent, RequestValidator};
use creel_queue::{Queue, Stream, StreamEntry};

use crate::consumer::{Consumer, Handled};
use tokio_util::sync::CancellationToken;

const GROUP: &str = "creel-intake";

/// Consumes job requests until `stop` is cancelled.
pub async fn run(
    queue: Queue,
    validator: Arc<dyn RequestValidator>,
    principal: String,
    stop: CancellationToken,
) {
    let consumer = Consumer {
        stream: Stream::Requests,
        group: GROUP,
        batch: 64,
        reclaim_after: Duration::from_secs(30),
    };
    consumer
        .run(queue.clone(), stop, &|entry| {
            let (queue, validator, principal) = (&queue, &validator, &principal);
            async move {
                match handle(queue, validator.as_ref(), principal, &entry).await {
                    Ok(()) => Handled::Done,
                    Err(e) => {
                        tracing::warn!(request = %entry.id, error = %e, "could not take a job request; will retry");
                        Handled::Later
                    }
                }
            }
        })
        .await;
}

async fn handle(
    queue: &Queue,
    validator: &dyn RequestValidator,
    principal: &str,
    entry: &StreamEntry,
) -> Result<(), creel_queue::QueueError> {
    let owned = parse(entry).map(|mut r| {
        r.created_by = Some(principal.to_owned());
        r
    });
    let outcome = match owned.and_then(|r| validator.validate(&r).map(|()| r)) {
        Ok(mut request) => {
            // A stream request without a key gets its stream id, in creel's own namespace: a
            // redelivered entry is not a second job.
            if request.idempotency_key.is_none() {
                request.idempotency_key = Some(format!("stream:{}", entry.id));
                request.idempotency_scope = IdempotencyScope::Internal;
            }
            let enqueued = queue.enqueue(request).await?;
            RequestEvent::accepted(&entry.id, enqueued.id, enqueued.created, chrono::Utc::now())
        }
        Err(e) => RequestEvent::rejected(&entry.id, &e.field, &e.reason, chrono::Utc::now()),
    };
    let event = serde_json::to_string(&outcome).expect("a request event serializes");
    queue.append_event(&event).await?;
    Ok(())
}

fn parse(entry: &StreamEntry) -> Result<JobRequest, JobRequestError> {
    let body = entry.fields.get("request").ok_or_else(|| {
        JobRequestError::new("request", "the stream entry has no `request` field")
    })?;
    let de = &mut serde_json::Deserializer::from_str(body);
    serde_path_to_error::deserialize(de)
        .map_err(|e| JobRequestError::from_json(&e, None, "request"))
}
