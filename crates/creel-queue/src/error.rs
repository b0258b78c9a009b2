//! Errors of the queue's own API (enqueue, admin calls). Job-step failures are
//! [`creel_core::JobError`]s and never surface here.

use creel_core::{JobId, JobRequestError, JobState};

/// What went wrong talking to the queue.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// Redis could not be reached or answered with an error.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// Redis answered in a form the queue did not expect.
    #[error("unexpected redis reply: {0}")]
    Reply(#[from] redis::ParsingError),
    /// The write is on the primary but not yet on `redis.wait_replicas` replicas: a failover
    /// now could lose it. Retrying an enqueue with the same idempotency key is safe.
    #[error("written, but on {acked} of the {wanted} replicas required within the wait")]
    NotReplicated {
        /// Replicas required.
        wanted: u32,
        /// Replicas that acknowledged.
        acked: u32,
    },
    /// A batched call failed (the message is the underlying error's).
    #[error("batched call failed: {0}")]
    Batch(String),
    /// The worker is closing and can no longer record outcomes.
    #[error("the worker is closing")]
    Closed,
    /// The job request is invalid; nothing was written.
    #[error("invalid job request: {0}")]
    Invalid(#[from] JobRequestError),
    /// No job has that id.
    #[error("no job {0}")]
    NotFound(JobId),
    /// The job is in a state that does not allow the operation.
    #[error("job {id} is {state}: {operation} is not possible")]
    WrongState {
        /// The job.
        id: JobId,
        /// Its current state.
        state: JobState,
        /// What was asked.
        operation: &'static str,
    },
    /// A signal key creel cannot store (empty: it would have no hash tag of its own).
    #[error("signal key {0:?} is not usable: it must not be empty")]
    BadSignalKey(String),
    /// An idempotency slot changed hands too often while this enqueue tried to claim it
    /// (concurrent requests with the same key, one of them replacing a stale claim); retry.
    #[error("idempotency slot {0:?} is contended; retry the enqueue")]
    Contended(String),
    /// Redis holds creel data in the key layout before Redis Cluster support; `creel migrate`
    /// moves it (with the fleet stopped).
    #[error(
        "Redis holds creel data in the old key layout ({0}): stop every creel process and run `creel migrate`"
    )]
    OldLayout(String),
    /// A record in Redis is not in the form creel writes (written by hand or by another version).
    #[error("corrupt record for job {id}: {reason}")]
    Corrupt {
        /// The job.
        id: String,
        /// What is wrong with it.
        reason: String,
    },
}
