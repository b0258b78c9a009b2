//! One attempt of a download, in steps: fetch the source (a vendor reference resolved afresh,
//! with a `Range` when a checkpoint allows resuming), open the upload (resume it or begin a new
//! one), copy the body into it (saving the checkpoint as parts finish, watching the bounds,
//! the shutdown and a cancel), check what arrived, and complete the object.

use std::time::{Duration, Instant};

use creel_core::config::Vendor;
use creel_core::{CostBasis, JobError};
use creel_queue::{JobContext, StepOutcome};
use creel_storage::{AnySink, AnyUpload, ObjectKey, ObjectMeta, Sink, Upload};
use futures::StreamExt;

use super::{DEFAULT_KEY, DownloadCheckpoint, DownloadSource, DownloadSpec, render_key};
use crate::JobDeps;
use crate::budget::{self, Hold, HoldFor};
use crate::transfer_bounds::TransferBounds;
use crate::vendor_source::resolve;

/// How often a running download reports progress at most.
const PROGRESS_EVERY: Duration = Duration::from_millis(500);

/// What the steps of one attempt share.
struct Attempt<'a> {
    spec: &'a DownloadSpec,
    ctx: &'a JobContext,
    deps: &'a JobDeps,
    sink: &'a AnySink,
    key: ObjectKey,
    /// What identifies the source across attempts: the URL, or the reference (whose URL
    /// changes every time it is resolved).
    source_id: String,
    /// The checkpoint of an earlier attempt for this source and key.
    saved: Option<DownloadCheckpoint>,
}

/// The upload an attempt writes into, and what it knows of the whole object.
struct Opened {
    upload: AnyUpload,
    /// The object's length, when the source announced it.
    total: Option<u64>,
    /// The source's version for `If-Range` (the checkpoint's, when resumed).
    validator: Option<String>,
}

/// [`super::run`]'s work, in its `transfer` span (which it tells the bytes moved and whether
/// the upload was resumed).
pub(super) async fn transfer(
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
    let source_id = match &spec.source {
        DownloadSource::Url(url) => url.clone(),
        DownloadSource::Vendor(source) => serde_json::to_string(source).unwrap_or_default(),
    };
    let saved = ctx
        .checkpoint
        .as_ref()
        .and_then(|c| serde_json::from_value::<DownloadCheckpoint>(c.clone()).ok())
        .filter(|c| c.url == source_id && c.key == key.as_str());
    let attempt = Attempt {
        spec,
        ctx,
        deps,
        sink,
        key,
        source_id,
        saved,
    };
    let mut bounds = TransferBounds::start(&deps.config.download, spec.max_bytes);
    // Bytes from Baijiayun spend the account's traffic package: the run holds its expected
    // length (what it knows of it) against the traffic budget first, and settles the bytes
    // that came.
    let traffic = super::vendor_traffic_account(spec, ctx.account.as_deref());
    if let Some(account) = traffic {
        let expected = spec.expected_length.or(spec.size_hint).unwrap_or(0);
        #[allow(clippy::cast_precision_loss)]
        let estimate = budget::cost_line(
            &deps.config.costs,
            Vendor::Baijiayun,
            account,
            expected as f64,
            CostBasis::Estimated,
        );
        // The floor is checked once per run, before its hold: a later attempt of the same run
        // is already counted in today's usage.
        if !budget::holding(ctx, deps, HoldFor::Traffic, account).await?
            && let Some(outcome) = budget::traffic_floor(deps, account, expected).await?
        {
            return Ok(outcome);
        }
        if let Hold::Wait(outcome) = budget::hold(ctx, deps, HoldFor::Traffic, estimate).await? {
            return Ok(outcome);
        }
    }
    let (response, vendor_md5) = attempt.fetch().await?;
    let expected_md5 = spec.expected_md5.clone().or(vendor_md5);
    let meta = ObjectMeta {
        source: Some(attempt.source_id.clone()),
        md5: expected_md5.clone(),
    };
    let opened = attempt.open(&response, &meta, &mut bounds).await?;
    let Opened { upload, total, .. } = attempt.copy(opened, response, &mut bounds).await?;
    let bytes = upload.bytes();
    tracing::Span::current().record("creel.transfer.bytes", bytes);
    let digest = upload.md5_hex();
    if let Some(e) = mismatch(spec, total, bytes, expected_md5.as_deref(), &digest) {
        upload.abort().await;
        return Err(e);
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
    // The run's traffic: the object's bytes, once (bytes of attempts that failed or were
    // resumed over are not counted).
    let cost = match traffic {
        #[allow(clippy::cast_precision_loss)]
        Some(account) => budget::cost_line(
            &deps.config.costs,
            Vendor::Baijiayun,
            account,
            stored.bytes as f64,
            CostBasis::Actual,
        ),
        None => None,
    };
    if let Some(line) = &cost {
        budget::settle(ctx, deps, HoldFor::Traffic, line).await;
    }
    Ok(StepOutcome::Done(serde_json::json!({
        "profile": spec.profile,
        "key": stored.key.as_str(),
        "location": stored.location,
        "bytes": stored.bytes,
        "md5": digest,
        "cost": cost.into_iter().collect::<Vec<_>>(),
    })))
}

impl Attempt<'_> {
    /// Asks the source for the body (from the checkpoint's offset when it has finished
    /// parts); a vendor URL refused with 403/410 is resolved afresh, once. Returns the answer
    /// and the vendor's MD5, when it gave one.
    async fn fetch(&self) -> Result<(reqwest::Response, Option<String>), JobError> {
        let mut vendor_md5 = None;
        let mut refreshed = false;
        loop {
            let url_text = match &self.spec.source {
                DownloadSource::Url(url) => url.clone(),
                DownloadSource::Vendor(source) => {
                    let account = self.ctx.account.as_deref().ok_or_else(|| {
                        JobError::permanent("a vendor source needs the job's account")
                    })?;
                    let fresh = resolve(source, account, &self.deps.vendors).await?;
                    vendor_md5 = fresh.md5;
                    fresh.url
                }
            };
            let url = url::Url::parse(&url_text)
                .map_err(|e| JobError::permanent(format!("bad source URL: {e}")))?;
            self.deps
                .sources
                .check(&url)
                .await
                .map_err(|r| JobError::permanent(r.to_string()))?;
            let mut request = self.deps.http.get(url);
            // A checkpoint without finished parts only names its upload (so a crash right
            // after creating it leaves none that no checkpoint names): it is aborted and the
            // transfer starts over, never resumed, so no part of it is sent twice.
            if let Some(cp) = self.saved.as_ref().filter(|c| !c.upload.parts.is_empty()) {
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
            if refused && matches!(self.spec.source, DownloadSource::Vendor(_)) && !refreshed {
                // The vendor's URL expired (or was revoked): ask for a fresh one, once.
                tracing::info!(job = %self.ctx.id, status = %response.status(), "source URL refused; refreshing it");
                refreshed = true;
                continue;
            }
            check_status(&response)?;
            return Ok((response, vendor_md5));
        }
    }

    /// Resumes the checkpoint's upload when the source answered the range that fits it;
    /// otherwise throws that upload away and begins a new one.
    async fn open(
        &self,
        response: &reqwest::Response,
        meta: &ObjectMeta,
        bounds: &mut TransferBounds,
    ) -> Result<Opened, JobError> {
        let (ctx, sink, key) = (self.ctx, self.sink, &self.key);
        let resumed_total = self
            .saved
            .as_ref()
            .filter(|_| response.status() == reqwest::StatusCode::PARTIAL_CONTENT)
            .and_then(|cp| content_range_total(response, cp.upload.offset));
        if let Err(e) = bounds.check_announced(resumed_total) {
            if let Some(cp) = &self.saved {
                sink.discard(key, &cp.upload).await;
            }
            return Err(e);
        }
        if let (Some(cp), Some(total)) = (&self.saved, resumed_total) {
            return match sink.resume(key, meta, &cp.upload).await {
                Some(Ok(upload)) => {
                    tracing::Span::current().record("creel.transfer.start", "resumed");
                    tracing::info!(job = %ctx.id, offset = cp.upload.offset, parts = cp.upload.parts.len(), "resuming the upload");
                    Ok(Opened {
                        upload,
                        total: Some(total),
                        validator: cp.validator.clone(),
                    })
                }
                Some(Err(e)) => {
                    // The checkpoint's upload is gone (completed or aborted by an attempt that
                    // outlived its lease): the next attempt starts over.
                    tracing::warn!(job = %ctx.id, error = %e, "the checkpoint's upload cannot be resumed; starting over");
                    forget_checkpoint(ctx, self.deps).await?;
                    Err(JobError::retryable(format!(
                        "the checkpoint's upload cannot be resumed ({e}); starting over"
                    )))
                }
                None => Err(JobError::retryable(
                    "this sink cannot resume; starting over",
                )),
            };
        }
        if let Some(cp) = &self.saved {
            if cp.upload.parts.is_empty() {
                tracing::info!(job = %ctx.id, "the checkpoint's upload has no finished part; aborting it and starting over");
            } else {
                tracing::info!(job = %ctx.id, "the source did not honour the range; starting over");
            }
            sink.discard(key, &cp.upload).await;
            if response.status() == reqwest::StatusCode::PARTIAL_CONTENT {
                return Err(JobError::retryable(
                    "the source answered a range that does not fit; starting over",
                ));
            }
        }
        let total = response.content_length();
        bounds.check_announced(total)?;
        if let (Some(expected), Some(got)) = (self.spec.expected_length, total)
            && expected != got
        {
            return Err(JobError::permanent(format!(
                "source announces {got} bytes but the job expects {expected}"
            )));
        }
        let upload = sink
            .begin(key, total, meta)
            .await
            .map_err(|e| e.classify())?;
        Ok(Opened {
            upload,
            total,
            validator: source_validator(response),
        })
    }

    /// Copies the body into the upload, saving the checkpoint whenever the unbroken run of
    /// finished parts grows (or a new upload exists), reporting progress, and stopping for the
    /// bounds, the worker's shutdown or a cancel.
    async fn copy(
        &self,
        mut opened: Opened,
        response: reqwest::Response,
        bounds: &mut TransferBounds,
    ) -> Result<Opened, JobError> {
        let (ctx, deps) = (self.ctx, self.deps);
        let mut body = response.bytes_stream();
        let mut last_report = Instant::now();
        // What the saved checkpoint names: a new upload id or more parts is saved at once (a
        // new upload is saved before any part of it is sent).
        let mut saved_at = self
            .saved
            .as_ref()
            .map(|c| (c.upload.upload_id.clone(), c.upload.parts.len()));
        loop {
            let chunk = tokio::select! {
                biased;
                () = deps.shutdown.cancelled() => {
                    // An upload with a checkpoint stays open for the next run to resume; one
                    // without (a directory, or no multipart upload created yet) is thrown away.
                    if opened.upload.checkpoint().is_none() {
                        opened.upload.abort().await;
                    }
                    return Err(JobError::retry_after(Duration::ZERO, "the worker is shutting down; the job goes back to the queue"));
                }
                () = tokio::time::sleep_until(bounds.next_check()) => {
                    if let Err(e) = bounds.check_time() {
                        opened.upload.abort().await;
                        return Err(e);
                    }
                    continue;
                }
                chunk = body.next() => chunk,
            };
            let chunk = match chunk {
                None => return Ok(opened),
                Some(Ok(c)) => c,
                Some(Err(e)) => {
                    if opened.upload.checkpoint().is_none() {
                        opened.upload.abort().await;
                    }
                    return Err(crate::source::classify(&e));
                }
            };
            if let Err(e) = bounds.count(chunk.len(), opened.upload.bytes() + chunk.len() as u64) {
                opened.upload.abort().await;
                return Err(e);
            }
            if let Err(e) = opened.upload.write(chunk).await {
                opened.upload.abort().await;
                // The aborted upload must not be resumed by the next attempt.
                forget_checkpoint(ctx, deps).await?;
                return Err(e.classify());
            }
            if let Some(cp) = opened.upload.checkpoint().filter(|c| {
                saved_at
                    .as_ref()
                    .is_none_or(|(id, parts)| *id != c.upload_id || c.parts.len() > *parts)
            }) {
                saved_at = Some((cp.upload_id.clone(), cp.parts.len()));
                let saved = DownloadCheckpoint {
                    url: self.source_id.clone(),
                    key: self.key.as_str().to_owned(),
                    validator: opened.validator.clone(),
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
                report(deps, ctx, opened.upload.bytes(), opened.total).await;
                if deps.queue.cancel_requested(ctx).await.unwrap_or(false) {
                    // Cancelled mid-transfer: nothing stays behind (the multipart upload is
                    // aborted), and the queue ends the job as cancelled.
                    opened.upload.abort().await;
                    return Err(JobError::retryable("cancelled during the transfer"));
                }
            }
        }
    }
}

/// Why the bytes that arrived are not the object the job expects, if they are not: a short
/// body (retryable: the next transfer may be whole), or a length or MD5 the job did not
/// expect (permanent: a whole file with a wrong checksum stays wrong).
fn mismatch(
    spec: &DownloadSpec,
    total: Option<u64>,
    bytes: u64,
    expected_md5: Option<&str>,
    digest: &str,
) -> Option<JobError> {
    if let Some(announced) = total.filter(|t| *t != bytes) {
        return Some(JobError::retryable(format!(
            "source announced {announced} bytes but sent {bytes}"
        )));
    }
    if let Some(expected) = spec.expected_length.filter(|l| *l != bytes) {
        return Some(JobError::permanent(format!(
            "expected {expected} bytes, got {bytes}"
        )));
    }
    expected_md5
        .filter(|m| !m.eq_ignore_ascii_case(digest))
        .map(|m| JobError::permanent(format!("MD5 mismatch: expected {m}, got {digest}")))
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
