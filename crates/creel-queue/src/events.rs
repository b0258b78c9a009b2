//! Building the completion event a terminal transition appends to `<prefix>:events`, and
//! reading the stream back.

use chrono::Utc;
use creel_core::{CompletionData, CompletionEvent, JobId, JobState, VendorFailure};

use crate::{JobContext, JobRecord, QueueConfig};

/// The facts about a job that every completion event carries.
#[derive(Debug, Clone)]
pub(crate) struct EventSubject {
    pub(crate) id: JobId,
    pub(crate) kind: String,
    pub(crate) queue: String,
    pub(crate) account: Option<String>,
}

impl EventSubject {
    pub(crate) fn of_context(ctx: &JobContext) -> Self {
        Self {
            id: ctx.id.clone(),
            kind: ctx.kind.clone(),
            queue: ctx.queue.clone(),
            account: ctx.account.clone(),
        }
    }

    pub(crate) fn of_record(rec: &JobRecord) -> Self {
        Self {
            id: rec.id.clone(),
            kind: rec.kind.clone(),
            queue: rec.queue.clone(),
            account: rec.account.clone(),
        }
    }

    /// The event JSON for this job reaching `state`; empty for a state that is not terminal.
    pub(crate) fn event_json(
        &self,
        cfg: &QueueConfig,
        state: JobState,
        attempts: u32,
        result: Option<serde_json::Value>,
        error: Option<String>,
        vendor_failure: Option<VendorFailure>,
    ) -> String {
        let data = CompletionData {
            job_id: self.id.clone(),
            kind: self.kind.clone(),
            queue: self.queue.clone(),
            account: self.account.clone(),
            state,
            attempts,
            result,
            error,
            vendor_failure,
        };
        let source = format!("{}/{}", cfg.event_source.trim_end_matches('/'), self.queue);
        CompletionEvent::new(&source, data, Utc::now())
            .and_then(|ev| serde_json::to_string(&ev).ok())
            .unwrap_or_default()
    }
}

/// One entry of the events stream.
#[derive(Debug, Clone)]
pub struct StreamEvent {
    /// The stream entry id (use it as the cursor for the next read).
    pub stream_id: String,
    /// The event.
    pub event: CompletionEvent,
}
