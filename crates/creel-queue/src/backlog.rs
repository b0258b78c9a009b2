//! The backlog of one queue as an autoscaler reads it: ready, due and running jobs, whose sum
//! is the work the fleet has now. Scheduled jobs that are not yet due are left out on purpose:
//! no pod is needed for them until their time comes.

use serde::Serialize;

use crate::{Queue, QueueError};

/// The work one queue has now ([`Queue::backlog`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Backlog {
    /// The queue.
    pub queue: String,
    /// Jobs ready to start (exact: the ready list's length; a cancelled job leaves the list).
    pub ready: u64,
    /// Scheduled jobs whose time has come (retries, polls, `run_at`); a worker promotes them.
    pub due: u64,
    /// Jobs a worker holds a lease on.
    pub running: u64,
    /// `ready + due + running`: busy pods count, so a scale-down never takes them for idle.
    pub backlog: u64,
}

impl Queue {
    /// The backlog of `queue`: three O(log n) reads in one script.
    pub async fn backlog(&self, queue: &str) -> Result<Backlog, QueueError> {
        let mut conn = self.conn.clone();
        let (ready, due, running): (u64, u64, u64) = self
            .scripts
            .backlog
            .prepare_invoke()
            .key(self.cfg.queue_base(queue))
            .invoke_async(&mut conn)
            .await?;
        Ok(Backlog {
            queue: queue.to_owned(),
            ready,
            due,
            running,
            backlog: ready + due + running,
        })
    }
}
