//! creel's job kinds. Each kind is a module with its payload type, its validation and its
//! steps; [`run`] dispatches a decoded [`Job`] to its kind. Steps return
//! [`creel_queue::StepOutcome`] or a classified [`creel_core::JobError`], and never see apalis.

pub mod classroom;
pub mod download;
pub mod source;
mod transfer_bounds;
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
    /// `plaso.export`: export a Plaso classroom to video or audio.
    #[serde(rename = "plaso.export")]
    PlasoExport(classroom::plaso_export::PlasoExportSpec),
    /// `baijiayun.vod`: a VOD video once transcoded, with its MD5.
    #[serde(rename = "baijiayun.vod")]
    BaijiayunVod(classroom::baijiayun::VodSpec),
    /// `baijiayun.pure_video`: the pure video of a playback, a room's playbacks, or a merged
    /// playback.
    #[serde(rename = "baijiayun.pure_video")]
    BaijiayunPureVideo(classroom::baijiayun::PureVideoSpec),
    /// `baijiayun.crop`: a playback cut into segments.
    #[serde(rename = "baijiayun.crop")]
    BaijiayunCrop(classroom::baijiayun::CropSpec),
    /// `weclassroom.replay`: a WeClassroom lesson's replay.
    #[serde(rename = "weclassroom.replay")]
    WeclassroomReplay(classroom::weclassroom::ReplaySpec),
}

/// The job kinds this build knows, as requests name them.
pub const KINDS: &[&str] = &[
    "download",
    "plaso.export",
    "baijiayun.vod",
    "baijiayun.pure_video",
    "baijiayun.crop",
    "weclassroom.replay",
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
    /// Cancelled when the worker's drain time is over: long steps stop and hand their job back.
    pub shutdown: CancellationToken,
}

/// Tidies after the cancelled job `rec` (see [`download::abort_after_cancel`] and
/// [`classroom::abandoned`]); returns what was done, for the job record, or `None` when the
/// job left nothing behind.
pub async fn after_cancel(
    rec: &creel_queue::JobRecord,
    deps: &JobDeps,
) -> Option<serde_json::Value> {
    let checkpoint = rec.checkpoint.as_ref()?;
    if rec.kind == "download" {
        let profile = rec.payload.get("profile")?.as_str()?;
        return download::abort_after_cancel(profile, checkpoint, deps).await;
    }
    classroom::abandoned(&rec.kind, checkpoint)
}

/// Runs one step of `job`.
pub async fn run(job: Job, ctx: &JobContext, deps: &JobDeps) -> Result<StepOutcome, JobError> {
    match job {
        Job::Download(spec) => download::run(&spec, ctx, deps).await,
        Job::PlasoExport(spec) => classroom::drive(&spec, spec.deliver.as_ref(), ctx, deps).await,
        Job::BaijiayunVod(spec) => classroom::drive(&spec, spec.deliver.as_ref(), ctx, deps).await,
        Job::BaijiayunPureVideo(spec) => {
            classroom::drive(&spec, spec.deliver.as_ref(), ctx, deps).await
        }
        Job::BaijiayunCrop(spec) => classroom::drive(&spec, spec.deliver.as_ref(), ctx, deps).await,
        Job::WeclassroomReplay(spec) => {
            classroom::drive(&spec, spec.deliver.as_ref(), ctx, deps).await
        }
    }
}
