//! The `download` job kind: stream an http(s) URL into a storage profile, computing MD5 and
//! length on the way, checking them against what the job expects, and reporting progress.
//! Memory stays flat: each chunk is hashed and written, then dropped.

use std::time::{Duration, Instant};

use creel_core::{Config, JobError, JobRequestError};
use creel_queue::{JobContext, StepOutcome};
use creel_storage::{ObjectKey, ObjectMeta, Sink, Upload, UploadCheckpoint};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tracing::Instrument;

use crate::JobDeps;
use crate::key_template::{self, Placeholder};
use crate::source::SourcePolicy;
use crate::transfer_bounds::TransferBounds;
use crate::vendor_source::{SourceRef, resolve};

/// The key used when a job names none.
pub const DEFAULT_KEY: &str = "{kind}/{date}/{job_id}";

/// How often a running download reports progress at most.
const PROGRESS_EVERY: Duration = Duration::from_millis(500);

/// The payload of a `download` job. On the wire the source is one of two fields, `url` or
/// `source`; decoded, it is a [`DownloadSource`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "DownloadSpecWire", into = "DownloadSpecWire")]
pub struct DownloadSpec {
    /// Where the bytes come from.
    pub source: DownloadSource,
    /// The storage profile (from config) to write into.
    pub profile: String,
    /// The object key, a template over `{job_id}`, `{kind}`, `{date}` (UTC `YYYY-MM-DD`) and
    /// `{account}`. Default [`DEFAULT_KEY`].
    pub key: Option<String>,
    /// The expected MD5 (32 hex digits); a mismatch fails the job.
    pub expected_md5: Option<String>,
    /// The expected length in bytes; a mismatch fails the job.
    pub expected_length: Option<u64>,
    /// The largest object this job may store, in bytes: at most `download.max_bytes`, which
    /// applies when this is absent.
    pub max_bytes: Option<u64>,
}

/// Where a download reads from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownloadSource {
    /// An http(s) URL without credentials in it (`payload.url`).
    Url(String),
    /// A vendor reference (`payload.source`; the job's `account` names the vendor account),
    /// resolved to a fresh URL right before each attempt and again if that URL is refused.
    Vendor(SourceRef),
}

/// [`DownloadSpec`] as JSON: the source is either of two optional fields.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DownloadSpecWire {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    source: Option<SourceRef>,
    profile: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expected_md5: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expected_length: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_bytes: Option<u64>,
}

/// The error for a payload with both or neither of `url` and `source`.
const ONE_SOURCE: &str = "give exactly one of payload.url and payload.source";

impl TryFrom<DownloadSpecWire> for DownloadSpec {
    type Error = &'static str;

    fn try_from(w: DownloadSpecWire) -> Result<Self, Self::Error> {
        let source = match (w.url, w.source) {
            (Some(url), None) => DownloadSource::Url(url),
            (None, Some(r)) => DownloadSource::Vendor(r),
            _ => return Err(ONE_SOURCE),
        };
        Ok(Self {
            source,
            profile: w.profile,
            key: w.key,
            expected_md5: w.expected_md5,
            expected_length: w.expected_length,
            max_bytes: w.max_bytes,
        })
    }
}

impl From<DownloadSpec> for DownloadSpecWire {
    fn from(s: DownloadSpec) -> Self {
        let (url, source) = match s.source {
            DownloadSource::Url(u) => (Some(u), None),
            DownloadSource::Vendor(r) => (None, Some(r)),
        };
        Self {
            url,
            source,
            profile: s.profile,
            key: s.key,
            expected_md5: s.expected_md5,
            expected_length: s.expected_length,
            max_bytes: s.max_bytes,
        }
    }
}

impl crate::Kind for DownloadSpec {
    const NAME: &'static str = "download";

    fn decode(payload: &serde_json::Value) -> Result<Self, JobRequestError> {
        let wire: DownloadSpecWire = crate::kind::decode_payload(payload)?;
        Self::try_from(wire).map_err(|reason| JobRequestError::new("payload.url", reason))
    }

    fn validate(
        &self,
        request: &creel_core::JobRequest,
        config: &Config,
    ) -> Result<(), JobRequestError> {
        DownloadSpec::validate(self, config, request.account.as_deref())
    }

    async fn run(&self, ctx: &JobContext, deps: &JobDeps) -> Result<StepOutcome, JobError> {
        run(self, ctx, deps).await
    }

    async fn after_cancel(
        payload: &serde_json::Value,
        checkpoint: &serde_json::Value,
        deps: &JobDeps,
    ) -> Option<serde_json::Value> {
        let profile = payload.get("profile")?.as_str()?;
        abort_after_cancel(profile, checkpoint, deps).await
    }
}

impl DownloadSpec {
    /// Checks the payload against the configuration.
    pub fn validate(&self, config: &Config, account: Option<&str>) -> Result<(), JobRequestError> {
        match &self.source {
            DownloadSource::Url(url) => {
                let parsed = validate_url(url)?;
                // A literal non-public address is refused now; a name is checked again when
                // it is resolved, at every connect.
                SourcePolicy::new(&config.download)
                    .check_url(&parsed)
                    .map_err(|r| JobRequestError::new("payload.url", r.to_string()))?;
            }
            DownloadSource::Vendor(source) => {
                let Some(name) = account else {
                    return Err(JobRequestError::new(
                        "account",
                        "a vendor source needs the vendor account that serves it",
                    ));
                };
                if config
                    .accounts
                    .get(name)
                    .is_some_and(|a| a.vendor != source.vendor())
                {
                    return Err(JobRequestError::new(
                        "payload.source",
                        format!("account {name:?} is not a {} account", source.vendor()),
                    ));
                }
            }
        }
        self.validate_target(config, account)
    }

    /// The profile, the MD5 and the key template, rendered exactly as the run will render it
    /// (its kind and account; a job id and a date have fixed lengths), so a key accepted here
    /// cannot fail at run time.
    fn validate_target(
        &self,
        config: &Config,
        account: Option<&str>,
    ) -> Result<(), JobRequestError> {
        if let Some(max) = self.max_bytes
            && (max == 0 || max > config.download.max_bytes)
        {
            return Err(JobRequestError::new(
                "payload.max_bytes",
                format!(
                    "must be 1 to {} (download.max_bytes)",
                    config.download.max_bytes
                ),
            ));
        }
        if !config.storage.contains_key(&self.profile) {
            return Err(JobRequestError::new(
                "payload.profile",
                format!("no storage profile named {:?} is configured", self.profile),
            ));
        }
        if let Some(md5) = &self.expected_md5
            && (md5.len() != 32 || !md5.chars().all(|c| c.is_ascii_hexdigit()))
        {
            return Err(JobRequestError::new(
                "payload.expected_md5",
                "must be 32 hex digits",
            ));
        }
        let sample = render_key(
            self.key.as_deref().unwrap_or(DEFAULT_KEY),
            "01M80ZC26FKKSMB7FKWBE0W9J7",
            "download",
            account,
        );
        ObjectKey::parse(&sample)
            .map_err(|e| JobRequestError::new("payload.key", e.to_string()))?;
        Ok(())
    }
}

/// A source URL must be http(s), name a host and carry no credentials.
fn validate_url(url: &str) -> Result<url::Url, JobRequestError> {
    let url = url::Url::parse(url)
        .map_err(|e| JobRequestError::new("payload.url", format!("not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(JobRequestError::new("payload.url", "must be http or https"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(JobRequestError::new(
            "payload.url",
            "must not carry credentials",
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(JobRequestError::new("payload.url", "must name a host"));
    }
    Ok(url)
}

/// Expands a download's key template: `{job_id}`, `{kind}` (`.` as `-`), `{date}` (UTC
/// `YYYY-MM-DD`) and `{account}` (`none` without one). The result still has to pass
/// [`ObjectKey::parse`].
#[must_use]
pub fn render_key(template: &str, job_id: &str, kind: &str, account: Option<&str>) -> String {
    key_template::expand(
        template,
        &[
            Placeholder::JobId(job_id),
            Placeholder::Kind(kind),
            Placeholder::Date(&key_template::today()),
            Placeholder::Account(account),
        ],
    )
}

/// What a download saves to resume: the source and key it was for, and where its upload stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct DownloadCheckpoint {
    /// The source's identity: its URL, or its vendor reference as JSON.
    url: String,
    key: String,
    /// The source's strong ETag (or Last-Modified) when the transfer began: sent as `If-Range`
    /// so a source that changed since answers with its whole new body instead of a range.
    #[serde(default)]
    validator: Option<String>,
    upload: UploadCheckpoint,
}

/// The multipart upload a download's checkpoint names, if it names one: a sweep must leave
/// that upload alone while the job is live.
#[must_use]
pub fn checkpoint_upload_id(checkpoint: &serde_json::Value) -> Option<String> {
    serde_json::from_value::<DownloadCheckpoint>(checkpoint.clone())
        .ok()
        .map(|c| c.upload.upload_id)
}

/// After the download was cancelled: aborts the multipart upload its checkpoint names (a
/// cancel while it waited to resume leaves one open). Returns what was done, or `None` when
/// the checkpoint names no upload.
pub async fn abort_after_cancel(
    profile: &str,
    checkpoint: &serde_json::Value,
    deps: &JobDeps,
) -> Option<serde_json::Value> {
    let cp = serde_json::from_value::<DownloadCheckpoint>(checkpoint.clone()).ok()?;
    let sink = deps.sinks.get(profile)?;
    let key = ObjectKey::parse(&cp.key).ok()?;
    sink.discard(&key, &cp.upload).await;
    Some(serde_json::json!({
        "aborted_upload": {"profile": profile, "key": cp.key, "upload_id": cp.upload.upload_id}
    }))
}

/// Runs the download: one step from request to stored object. A run that follows an
/// interrupted one resumes its multipart upload from the saved checkpoint with an HTTP `Range`
/// request; if the source ignores the range (or no longer matches), it starts over cleanly.
pub async fn run(
    spec: &DownloadSpec,
    ctx: &JobContext,
    deps: &JobDeps,
) -> Result<StepOutcome, JobError> {
    let span = tracing::info_span!(
        "transfer",
        creel.storage.profile = %spec.profile,
        creel.transfer.bytes = tracing::field::Empty,
        creel.transfer.start = "fresh",
        creel.transfer.outcome = tracing::field::Empty,
    );
    let outcome = transfer(spec, ctx, deps).instrument(span.clone()).await;
    span.record(
        "creel.transfer.outcome",
        if outcome.is_ok() { "stored" } else { "failed" },
    );
    outcome
}

/// [`run`]'s work, in its `transfer` span (which it tells the bytes moved and whether the
/// upload was resumed).
async fn transfer(
    spec: &DownloadSpec,
    ctx: &JobContext,
    deps: &JobDeps,
) -> Result<StepOutcome, JobError> {
    let Some(sink) = deps.sinks.get(&spec.profile) else {
        return Err(JobError::permanent(format!(
            "storage profile {:?} is not configured",
            spec.profile
        )));
    };
    let key_text = render_key(
        spec.key.as_deref().unwrap_or(DEFAULT_KEY),
        ctx.id.as_str(),
        &ctx.kind,
        ctx.account.as_deref(),
    );
    let key = ObjectKey::parse(&key_text).map_err(|e| e.classify())?;
    // What identifies the source across attempts: the URL, or the reference (whose URL
    // changes every time it is resolved).
    let source_id = match &spec.source {
        DownloadSource::Url(url) => url.clone(),
        DownloadSource::Vendor(source) => serde_json::to_string(source).unwrap_or_default(),
    };
    let saved = ctx
        .checkpoint
        .as_ref()
        .and_then(|c| serde_json::from_value::<DownloadCheckpoint>(c.clone()).ok())
        .filter(|c| c.url == source_id && c.key == key_text);
    let mut bounds = TransferBounds::start(&deps.config.download, spec.max_bytes);

    let mut vendor_md5 = None;
    let mut refreshed = false;
    let response = loop {
        let url_text = match &spec.source {
            DownloadSource::Url(url) => url.clone(),
            DownloadSource::Vendor(source) => {
                let account = ctx.account.as_deref().ok_or_else(|| {
                    JobError::permanent("a vendor source needs the job's account")
                })?;
                let fresh = resolve(source, account, &deps.vendors).await?;
                vendor_md5 = fresh.md5;
                fresh.url
            }
        };
        let url = url::Url::parse(&url_text)
            .map_err(|e| JobError::permanent(format!("bad source URL: {e}")))?;
        deps.sources
            .check(&url)
            .await
            .map_err(|r| JobError::permanent(r.to_string()))?;
        let mut request = deps.http.get(url);
        // A checkpoint without finished parts only names its upload (so a crash right after
        // creating it leaves none that no checkpoint names): it is aborted and the transfer
        // starts over, never resumed, so no part of it is sent twice.
        if let Some(cp) = saved.as_ref().filter(|c| !c.upload.parts.is_empty()) {
            request = request.header(
                reqwest::header::RANGE,
                format!("bytes={}-", cp.upload.offset),
            );
            if let Some(v) = &cp.validator {
                request = request.header(reqwest::header::IF_RANGE, v);
            }
        }
        let response = request
            .send()
            .await
            .map_err(|e| crate::source::classify(&e))?;
        let refused = matches!(response.status().as_u16(), 403 | 410);
        if refused && matches!(spec.source, DownloadSource::Vendor(_)) && !refreshed {
            // The vendor's URL expired (or was revoked): ask for a fresh one, once.
            tracing::info!(job = %ctx.id, status = %response.status(), "source URL refused; refreshing it");
            refreshed = true;
            continue;
        }
        check_status(&response)?;
        break response;
    };
    let expected_md5 = spec.expected_md5.clone().or(vendor_md5);
    let meta = ObjectMeta {
        source: Some(source_id.clone()),
        md5: expected_md5.clone(),
    };
    let resumed_total = saved
        .as_ref()
        .filter(|_| response.status() == reqwest::StatusCode::PARTIAL_CONTENT)
        .and_then(|cp| content_range_total(&response, cp.upload.offset));
    if let Err(e) = bounds.check_announced(resumed_total) {
        if let Some(cp) = &saved {
            sink.discard(&key, &cp.upload).await;
        }
        return Err(e);
    }
    let (mut upload, total) = match (&saved, resumed_total) {
        (Some(cp), Some(total)) => match sink.resume(&key, &meta, &cp.upload).await {
            Some(Ok(u)) => {
                tracing::Span::current().record("creel.transfer.start", "resumed");
                tracing::info!(job = %ctx.id, offset = cp.upload.offset, parts = cp.upload.parts.len(), "resuming the upload");
                (u, Some(total))
            }
            Some(Err(e)) => {
                // The checkpoint's upload is gone (completed or aborted by an attempt that
                // outlived its lease): the next attempt starts over.
                tracing::warn!(job = %ctx.id, error = %e, "the checkpoint's upload cannot be resumed; starting over");
                forget_checkpoint(ctx, deps).await?;
                return Err(JobError::retryable(format!(
                    "the checkpoint's upload cannot be resumed ({e}); starting over"
                )));
            }
            None => {
                return Err(JobError::retryable(
                    "this sink cannot resume; starting over",
                ));
            }
        },
        _ => {
            if let Some(cp) = &saved {
                if cp.upload.parts.is_empty() {
                    tracing::info!(job = %ctx.id, "the checkpoint's upload has no finished part; aborting it and starting over");
                } else {
                    tracing::info!(job = %ctx.id, "the source did not honour the range; starting over");
                }
                sink.discard(&key, &cp.upload).await;
                if response.status() == reqwest::StatusCode::PARTIAL_CONTENT {
                    return Err(JobError::retryable(
                        "the source answered a range that does not fit; starting over",
                    ));
                }
            }
            let total = response.content_length();
            bounds.check_announced(total)?;
            if let (Some(expected), Some(got)) = (spec.expected_length, total)
                && expected != got
            {
                return Err(JobError::permanent(format!(
                    "source announces {got} bytes but the job expects {expected}"
                )));
            }
            let u = sink
                .begin(&key, total, &meta)
                .await
                .map_err(|e| e.classify())?;
            (u, total)
        }
    };

    let validator = match (&saved, resumed_total) {
        (Some(cp), Some(_)) => cp.validator.clone(),
        _ => source_validator(&response),
    };
    let mut body = response.bytes_stream();
    let mut last_report = Instant::now();
    // What the saved checkpoint names: a new upload id or more parts is saved at once (a new
    // upload is saved before any part of it is sent).
    let mut saved_at = saved
        .as_ref()
        .map(|c| (c.upload.upload_id.clone(), c.upload.parts.len()));
    loop {
        let chunk = tokio::select! {
            biased;
            () = deps.shutdown.cancelled() => {
                // An upload with a checkpoint stays open for the next run to resume; one without
                // (a directory, or no multipart upload created yet) is thrown away.
                if upload.checkpoint().is_none() {
                    upload.abort().await;
                }
                return Err(JobError::retry_after(Duration::ZERO, "the worker is shutting down; the job goes back to the queue"));
            }
            () = tokio::time::sleep_until(bounds.next_check()) => {
                if let Err(e) = bounds.check_time() {
                    upload.abort().await;
                    return Err(e);
                }
                continue;
            }
            chunk = body.next() => chunk,
        };
        let chunk = match chunk {
            None => break,
            Some(Ok(c)) => c,
            Some(Err(e)) => {
                if upload.checkpoint().is_none() {
                    upload.abort().await;
                }
                return Err(crate::source::classify(&e));
            }
        };
        if let Err(e) = bounds.count(chunk.len(), upload.bytes() + chunk.len() as u64) {
            upload.abort().await;
            return Err(e);
        }
        if let Err(e) = upload.write(chunk).await {
            upload.abort().await;
            // The aborted upload must not be resumed by the next attempt.
            forget_checkpoint(ctx, deps).await?;
            return Err(e.classify());
        }
        if let Some(cp) = upload.checkpoint().filter(|c| {
            saved_at
                .as_ref()
                .is_none_or(|(id, parts)| *id != c.upload_id || c.parts.len() > *parts)
        }) {
            saved_at = Some((cp.upload_id.clone(), cp.parts.len()));
            let saved = DownloadCheckpoint {
                url: source_id.clone(),
                key: key_text.clone(),
                validator: validator.clone(),
                upload: cp,
            };
            if let Ok(v) = serde_json::to_value(&saved) {
                match deps.queue.save_checkpoint(ctx, &v).await {
                    Ok(true) => {}
                    // Another worker has the job (this one stalled past its lease): it owns
                    // the upload now; leave it be.
                    Ok(false) => return Err(lease_lost()),
                    Err(e) => {
                        tracing::warn!(job = %ctx.id, error = %e, "checkpoint not saved; a crash now would redo more parts");
                    }
                }
            }
        }
        if last_report.elapsed() >= PROGRESS_EVERY {
            last_report = Instant::now();
            report(deps, ctx, upload.bytes(), total).await;
            if deps.queue.cancel_requested(&ctx.id).await.unwrap_or(false) {
                // Cancelled mid-transfer: nothing stays behind (the multipart upload is
                // aborted), and the queue ends the job as cancelled.
                upload.abort().await;
                return Err(JobError::retryable("cancelled during the transfer"));
            }
        }
    }

    let bytes = upload.bytes();
    tracing::Span::current().record("creel.transfer.bytes", bytes);
    let digest = upload.md5_hex();
    let short = total.is_some_and(|t| t != bytes);
    let mismatch = if short {
        Some(format!(
            "source announced {} bytes but sent {bytes}",
            total.unwrap_or_default()
        ))
    } else if spec.expected_length.is_some_and(|l| l != bytes) {
        Some(format!(
            "expected {} bytes, got {bytes}",
            spec.expected_length.unwrap_or_default()
        ))
    } else if expected_md5
        .as_ref()
        .is_some_and(|m| !m.eq_ignore_ascii_case(&digest))
    {
        Some(format!(
            "MD5 mismatch: expected {}, got {digest}",
            expected_md5.as_deref().unwrap_or_default()
        ))
    } else {
        None
    };
    if let Some(reason) = mismatch {
        upload.abort().await;
        // A truncated transfer may succeed next time; a wrong checksum of a whole file will not.
        return Err(if short {
            JobError::retryable(reason)
        } else {
            JobError::permanent(reason)
        });
    }
    // Only the lease holder completes the upload: a twin that outlived its lease must not.
    if !report(deps, ctx, bytes, total).await {
        return Err(lease_lost());
    }
    let stored = match upload.finish().await {
        Ok(s) => s,
        Err(e) => {
            // The upload is aborted: a resumed attempt must not name it again.
            forget_checkpoint(ctx, deps).await?;
            return Err(e.classify());
        }
    };
    report(deps, ctx, bytes, Some(bytes)).await;
    Ok(StepOutcome::Done(serde_json::json!({
        "profile": spec.profile,
        "key": stored.key.as_str(),
        "location": stored.location,
        "bytes": stored.bytes,
        "md5": digest,
    })))
}

/// The error of an attempt that finds another worker holding its job.
fn lease_lost() -> JobError {
    JobError::retryable("the job's lease was lost; another worker has it")
}

/// Clears the checkpoint, so the next attempt starts a new upload.
async fn forget_checkpoint(ctx: &JobContext, deps: &JobDeps) -> Result<(), JobError> {
    match deps
        .queue
        .save_checkpoint(ctx, &serde_json::Value::Null)
        .await
    {
        Ok(true) => Ok(()),
        Ok(false) => Err(lease_lost()),
        Err(e) => Err(JobError::retryable(format!("clearing the checkpoint: {e}"))),
    }
}

/// What identifies this version of the source for `If-Range`: a strong ETag, or else
/// Last-Modified (weak ETags are not allowed in `If-Range`).
fn source_validator(response: &reqwest::Response) -> Option<String> {
    let header = |h| {
        response
            .headers()
            .get(h)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    header(reqwest::header::ETAG)
        .filter(|e| !e.starts_with("W/"))
        .or_else(|| header(reqwest::header::LAST_MODIFIED))
}

/// The total length from `Content-Range: bytes <offset>-<end>/<total>`, if the range starts at
/// `offset` as asked.
fn content_range_total(response: &reqwest::Response, offset: u64) -> Option<u64> {
    let v = response
        .headers()
        .get(reqwest::header::CONTENT_RANGE)?
        .to_str()
        .ok()?;
    let (range, total) = v.strip_prefix("bytes ")?.split_once('/')?;
    let start: u64 = range.split_once('-')?.0.parse().ok()?;
    (start == offset).then_some(())?;
    total.parse().ok()
}

/// Records progress; `false` when the job's lease is no longer this attempt's (an unreachable
/// Redis does not say so: the next write will).
async fn report(deps: &JobDeps, ctx: &JobContext, bytes: u64, total: Option<u64>) -> bool {
    let progress = serde_json::json!({ "bytes": bytes, "total": total });
    match deps.queue.report_progress(ctx, &progress).await {
        Ok(held) => held,
        Err(e) => {
            tracing::debug!(job = %ctx.id, error = %e, "progress not recorded");
            true
        }
    }
}

/// Classifies an answer that is not a success.
fn check_status(response: &reqwest::Response) -> Result<(), JobError> {
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let code = status.as_u16();
    let reason = format!("source answered HTTP {code}");
    match code {
        408 | 429 | 503 => {
            let after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| creel_core::retry_after::parse(v, std::time::SystemTime::now()))
                .unwrap_or(Duration::from_secs(5));
            Err(JobError::retry_after(after, reason))
        }
        500..=599 => Err(JobError::retryable(reason)),
        _ => Err(JobError::permanent(reason)),
    }
}
