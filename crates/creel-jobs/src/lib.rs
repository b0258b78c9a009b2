//! creel's job kinds. Each kind is a module with its payload type, its validation and its
//! steps; [`run`] dispatches a decoded [`Job`] to its kind. Steps return
//! [`creel_queue::StepOutcome`] or a classified [`creel_core::JobError`], and never see apalis.

pub mod download;
pub mod source;
mod validate;
pub mod vendor_source;

use std::sync::Arc;

use creel_core::{Config, JobError};
use creel_queue::{JobContext, Queue, StepOutcome};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

pub use validate::Validator;

/// Every job kind, decoded from `{"kind": …, "payload": …}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", content = "payload")]
pub enum Job {
    /// `download`: copy an http(s) URL into a storage profile.
    #[serde(rename = "download")]
    Download(download::DownloadSpec),
}

/// The job kinds this build knows, as requests name them.
pub const KINDS: &[&str] = &["download"];

/// What job steps need from the process: the queue (progress), an HTTP client, the
/// configuration (profiles, accounts), and the shutdown signal.
#[derive(Debug, Clone)]
pub struct JobDeps {
    /// The queue, for progress reports.
    pub queue: Queue,
    /// The HTTP client for sources; build it with [`source::SourcePolicy::client`] so the
    /// SSRF policy holds on every connection and redirect.
    pub http: reqwest::Client,
    /// The SSRF policy for sources.
    pub sources: source::SourcePolicy,
    /// A client for every vendor account, taking permits from the cluster-wide limiter.
    pub vendors: Arc<creel_vendors::VendorClients>,
    /// The configuration.
    pub config: Arc<Config>,
    /// The sink of every storage profile.
    pub sinks: creel_storage::Sinks,
    /// Cancelled when the worker's drain time is over: long steps stop and hand their job back.
    pub shutdown: CancellationToken,
}

/// Runs one step of `job`.
pub async fn run(job: Job, ctx: &JobContext, deps: &JobDeps) -> Result<StepOutcome, JobError> {
    match job {
        Job::Download(spec) => download::run(&spec, ctx, deps).await,
    }
}
