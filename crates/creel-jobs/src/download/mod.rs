//! The `download` job kind: stream an http(s) URL into a storage profile, computing MD5 and
//! length on the way, checking them against what the job expects, and reporting progress.
//! Memory stays flat: each chunk is hashed and written, then dropped.

use creel_core::{Config, JobError, JobRequestError};
use creel_queue::{JobContext, StepOutcome};
use creel_storage::{ObjectKey, Sink, UploadCheckpoint};
use serde::{Deserialize, Serialize};
use tracing::Instrument;

mod transfer;

use crate::JobDeps;
use crate::key_template::{self, Placeholder};
use crate::source::SourcePolicy;
use crate::vendor_source::SourceRef;

/// The key used when a job names none.
pub const DEFAULT_KEY: &str = "{kind}/{date}/{job_id}";

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
    /// The size the vendor states (a classroom delivery's), when `expected_length` is not
    /// given: what the download counts against traffic budgets before it starts. Not checked.
    pub size_hint: Option<u64>,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    size_hint: Option<u64>,
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
            size_hint: w.size_hint,
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
            size_hint: s.size_hint,
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
        job: &creel_queue::JobRecord,
        checkpoint: &serde_json::Value,
        deps: &JobDeps,
    ) -> Option<serde_json::Value> {
        let released = match (
            DownloadSpec::decode(&job.payload).ok(),
            job.account.as_deref(),
        ) {
            (Some(spec), Some(account))
                if vendor_traffic_account(&spec, Some(account)).is_some() =>
            {
                crate::budget::release_of(
                    deps,
                    &job.id,
                    job.runs,
                    crate::budget::HoldFor::Traffic,
                    account,
                )
                .await
            }
            _ => false,
        };
        let profile = job.payload.get("profile")?.as_str()?;
        let aborted = abort_after_cancel(profile, checkpoint, deps).await;
        match (aborted, released) {
            (Some(mut a), true) => {
                a["budget_hold_released"] = serde_json::json!(true);
                Some(a)
            }
            (None, true) => Some(serde_json::json!({"budget_hold_released": true})),
            (a, false) => a,
        }
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

/// The account whose vendor traffic budget a download of `spec` spends: a Baijiayun
/// reference's (its bytes spend the account's VOD package).
pub(crate) fn vendor_traffic_account<'a>(
    spec: &DownloadSpec,
    account: Option<&'a str>,
) -> Option<&'a str> {
    match &spec.source {
        DownloadSource::Vendor(source)
            if source.vendor() == creel_core::config::Vendor::Baijiayun =>
        {
            account
        }
        _ => None,
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
pub(crate) struct DownloadCheckpoint {
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
    let outcome = transfer::transfer(spec, ctx, deps)
        .instrument(span.clone())
        .await;
    // A download that failed for good holds no traffic (its bytes, if any moved, are not
    // known here): the run's hold goes back.
    if let (Err(e), Some(account)) = (
        &outcome,
        vendor_traffic_account(spec, ctx.account.as_deref()),
    ) && e.kind() == creel_core::JobErrorKind::Permanent
    {
        crate::budget::release(ctx, deps, crate::budget::HoldFor::Traffic, account).await;
    }
    span.record(
        "creel.transfer.outcome",
        if outcome.is_ok() { "stored" } else { "failed" },
    );
    outcome
}
