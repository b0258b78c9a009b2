//! What a job step knows about its job ([`JobContext`], in every task's data) and what it
//! answers ([`StepOutcome`]).

use std::time::Duration;

use creel_core::JobId;

/// The job a task belongs to. Handlers extract it with `apalis_core::task::data::Data<JobContext>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobContext {
    /// The job's id.
    pub id: JobId,
    /// Its queue.
    pub queue: String,
    /// Its kind.
    pub kind: String,
    /// The vendor account it acts for.
    pub account: Option<String>,
    /// This attempt of the current step, from 1.
    pub attempt: u32,
    /// The current step (`None` before the first hand-over).
    pub step: Option<String>,
    /// The run (1, plus one per requeue).
    pub runs: u32,
    /// The producer's W3C traceparent.
    pub traceparent: Option<String>,
    /// The producer's W3C tracestate.
    pub tracestate: Option<String>,
    /// When this step became due (ms since the epoch): enqueue time, `run_at`, or the end of
    /// a retry's or the previous step's wait.
    pub due_at_ms: Option<i64>,
    /// What an earlier run of this step saved with [`crate::Queue::save_checkpoint`] (an upload
    /// id and finished parts, say), so this run can resume instead of starting over.
    pub checkpoint: Option<serde_json::Value>,
    /// The principal that owns the job (`created_by`); its child jobs get the same owner.
    pub owner: Option<String>,
    /// The lease token: proof that this worker holds the job.
    pub(crate) token: String,
}

/// How a step ended when it did not fail.
#[derive(Debug, Clone, PartialEq)]
pub enum StepOutcome {
    /// The job is finished, with this result.
    Done(serde_json::Value),
    /// The job goes on: run `step` after `after` (a poll, the next stage). The worker slot is
    /// free meanwhile. A pending cancellation takes effect here.
    Continue {
        /// The next step's name, kept in the job record.
        step: String,
        /// How long to wait before running it.
        after: Duration,
    },
    /// The step would pass its vendor account's budget: the job waits in state
    /// `waiting_budget` and runs the same step again after `after` (when the budget's period
    /// ends), or sooner when the budget is raised. The attempt is not counted.
    WaitForBudget {
        /// Which budget and by how much (kept as the job's `last_error`).
        reason: String,
        /// Until the budget's day or month ends.
        after: Duration,
    },
}

impl From<()> for StepOutcome {
    fn from((): ()) -> Self {
        Self::Done(serde_json::Value::Null)
    }
}

impl From<serde_json::Value> for StepOutcome {
    fn from(v: serde_json::Value) -> Self {
        Self::Done(v)
    }
}
