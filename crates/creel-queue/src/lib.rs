//! creel's Redis queue: an [apalis](https://docs.rs/apalis) `Backend` over Lua scripts of our
//! own, so jobs are never lost, wedged or run twice by design.
//!
//! - [`Queue`] is the producer and operator handle: enqueue (single, batch, delayed) with
//!   idempotency keys, job records, listings and counts by state, cancel, requeue from dead,
//!   pause/resume, retention, and the completion-event stream.
//! - [`RedisBackend`] is what a worker runs on: leases with expiry renewed by a heartbeat,
//!   a reaper that any worker runs, wake-on-push over pub/sub, per-kind retry policies,
//!   undecodable payloads sent to dead, exactly one terminal event per job run.
//!
//! Every script works in bounded chunks; every key lives under one configurable prefix, and
//! every key one script touches shares its queue's hash tag, so the queue runs on a single
//! Redis or a Redis Cluster alike.
//! See ARCHITECTURE.md for the key layout.

mod ack;
mod backend;
mod backlog;
mod client;
mod config;
mod connect;
mod context;
pub mod embedded;
mod error;
mod events;
mod fetcher;
mod health;
mod index;
mod keys;
mod layout;
mod lease_reply;
mod ledger;
mod maintenance;
mod prefetch;
mod record;
mod scripts;
mod signals;
mod streams;
pub mod trace;
mod worker;

pub use ack::{AckLayer, AckService};
pub use backend::RedisBackend;
pub use backlog::Backlog;
pub use client::{CancelOutcome, Enqueued, Page, Queue, QueueCounts, WorkerInfo};
pub use config::QueueConfig;
pub use context::{JobContext, StepOutcome};
pub use error::QueueError;
pub use events::StreamEvent;
pub use health::WorkerHealth;
pub use layout::{Migrated, migrate};
pub use ledger::{
    AccountUsage, BudgetOverride, BudgetRefusal, Charge, Counts, MAX_USAGE_DAYS, Reservation, Usage,
};
pub use record::JobRecord;
pub use streams::{Stream, StreamEntry, StreamReader};
