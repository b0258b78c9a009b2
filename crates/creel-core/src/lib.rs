//! creel's shared vocabulary: job ids and envelopes, job states and the single transition
//! function, the error taxonomy every job step returns, retry policies and the completion-event
//! schema. This crate does no I/O; every other creel crate depends on it.

pub mod backoff;
pub mod classroom;
pub mod config;
pub mod cost;
pub mod error;
pub mod event;
pub mod id;
pub mod job;
pub mod limit;
pub mod redact;
pub mod retry;
pub mod retry_after;
pub mod state;
pub mod telemetry;

pub use backoff::Backoff;
pub use config::{Config, Secret};
pub use cost::{CostBasis, CostLine, UsageCalendar, merge_costs};
pub use error::{JobError, JobErrorKind, VendorFailure};
pub use event::{
    CloudEvent, CompletionData, CompletionEvent, Event, EventType, RequestData, RequestEvent,
    RequestEventType,
};
pub use id::{JobId, JobIdError};
pub use job::{DEFAULT_QUEUE, IdempotencyScope, JobRequest, JobRequestError, RequestValidator};
pub use limit::{CallLimiter, Permit, QuotaKey, Unlimited};
pub use retry::RetryPolicy;
pub use state::{InvalidTransition, JobState, Transition, transition};
