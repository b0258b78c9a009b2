//! creel's job kinds. Each kind is a module with its payload type, its validation and its
//! steps, registered as a [`Kind`] in the one list below; [`run`] dispatches a [`Job`] to its kind. Steps return
//! [`creel_queue::StepOutcome`] or a classified [`creel_core::JobError`], and never see apalis.

pub mod archive;
pub mod budget;
pub mod callbacks;
pub mod classroom;
pub mod download;
pub mod key_template;
pub mod kind;
pub mod source;
mod transfer_bounds;
mod validate;
pub mod vendor_source;
pub mod webhook;

use std::sync::Arc;

use creel_core::Config;
use creel_queue::Queue;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

pub use kind::Kind;
pub use validate::Validator;

/// A job as the queue hands it over: its kind's name and its payload, decoded by the kind
/// when a step runs (see [`run`]).
#[derive(Debug, Clone, Deserialize)]
pub struct Job {
    /// The kind's name, one of [`KINDS`].
    pub kind: String,
    /// The kind's payload, validated when the job was enqueued.
    pub payload: serde_json::Value,
}

// The one list of job kinds: the `KINDS` table, the validation and the dispatch come from it.
kind::kinds![
    download::DownloadSpec,
    classroom::plaso_export::PlasoExportSpec,
    classroom::baijiayun::VodSpec,
    classroom::baijiayun::PureVideoSpec,
    classroom::baijiayun::CropSpec,
    classroom::weclassroom::ReplaySpec,
    webhook::WebhookSpec,
    archive::ArchiveScanSpec,
];

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
    /// The webhook client and the per-endpoint delivery slots.
    pub webhooks: Arc<webhook::WebhookSender>,
    /// Cancelled when the worker's drain time is over: long steps stop and hand their job back.
    pub shutdown: CancellationToken,
}
