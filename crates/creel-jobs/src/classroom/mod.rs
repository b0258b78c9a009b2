//! The classroom job kinds as durable state machines. Each kind implements [`VendorTask`]:
//! submit (or find) a vendor task, name the signal keys a callback about it arrives on, and
//! poll it. [`drive`] runs the shared steps:
//!
//! `submit` → `poll` (repeated, adaptive backoff, deadline, status-call cap) → `deliver`
//! (optional: one child `download` job per output, each resolving a fresh vendor URL) → done.
//!
//! Every step saves what it learned in the job's checkpoint before acting on it: an intent
//! marker before a billed submission (so a re-run after a crash reconciles instead of paying
//! twice), the task as soon as the vendor names it, the child job ids before waiting on them.
//! Waiting is always a step scheduled for later; a verified callback (a signal on one of the
//! task's keys) makes the next poll due at once.

pub mod baijiayun;
pub mod keys;
pub mod plaso_export;
pub mod weclassroom;

use std::time::Duration;

use creel_core::config::{CostUnit, Vendor};
use creel_core::{
    Config, CostBasis, CostLine, IdempotencyScope, JobError, JobRequest, JobRequestError, JobState,
    VendorFailure, merge_costs,
};
use creel_queue::{JobContext, StepOutcome};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::JobDeps;
use crate::budget::{self, Hold, HoldFor};
use crate::download::{DownloadSource, DownloadSpec};
use crate::key_template::{self, Placeholder};
use crate::vendor_source::SourceRef;
use creel_vendors::Received;

/// How long a delivered signal is kept for a listener that comes later, and how long a job's
/// listening lasts between polls.
const SIGNAL_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// The longest wait between checks of the child deliveries. A child that ends wakes this job
/// at once (`Queue::link_child`), so this is only a safety net for a wake-up lost with Redis.
const CHILD_SAFETY_WAIT: Duration = Duration::from_secs(300);

/// `deliver`: copy the job's outputs into a storage profile through child `download` jobs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deliver {
    /// The storage profile.
    pub profile: String,
    /// The object key template, over `{parent}` (this job's id), `{index}` (the output's
    /// number, from 1), `{date}` and `{account}`. Default `{account}/{kind}/{date}/{parent}-{index}.mp4`
    /// with the parent's kind.
    #[serde(default)]
    pub key: Option<String>,
}

/// One output of a finished vendor task: what it is (for the result) and where to fetch it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Output {
    /// Facts for the result and the event: vendor ids, URL, size, MD5, duration.
    pub facts: Value,
    /// Where a delivery fetches it: a vendor reference (resolved to a fresh URL on every
    /// attempt) or, for files the vendor serves under a lasting URL, that URL.
    pub source: DeliverySource,
    /// The vendor's MD5 of the file, when it reports one.
    #[serde(default)]
    pub md5: Option<String>,
}

/// Where a delivery fetches an output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliverySource {
    /// A vendor reference.
    Reference(SourceRef),
    /// A URL.
    Url(String),
}

impl From<SourceRef> for DeliverySource {
    fn from(r: SourceRef) -> Self {
        Self::Reference(r)
    }
}

/// What one poll found.
#[derive(Debug)]
pub enum Polled {
    /// Not finished yet; what the vendor said (shown as the job's progress).
    Pending(Value),
    /// Finished: the result facts and the outputs.
    Done {
        /// Facts about the whole task (vendor ids).
        facts: Value,
        /// Its outputs (one video, or one per segment or session).
        outputs: Vec<Output>,
    },
}

/// How far a kind's callbacks can be trusted, which decides whether the checks they wake are
/// spaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallbackTrust {
    /// Signed by the vendor and replay-guarded (Baijiayun): no one else can send them, so the
    /// checks they wake run at once.
    Signed,
    /// Anyone who knows the URL can send them (Plaso's token URL): the checks they wake are
    /// spaced by `classroom.callback_check_min_interval_ms`.
    Unsigned,
}

/// One classroom job kind: its payload type implements this, and is then a [`crate::Kind`]
/// whose steps are [`drive`]'s.
pub trait VendorTask: DeserializeOwned + Send + Sync + 'static {
    /// The kind's name, e.g. `baijiayun.vod`.
    const NAME: &'static str;
    /// The vendor whose account the job acts for.
    const VENDOR: Vendor;

    /// What the vendor's task is, as persisted (ids).
    type Task: Serialize + DeserializeOwned + Send + Sync + Clone;

    /// Decodes a payload, naming the field at fault.
    fn decode(payload: &Value) -> Result<Self, JobRequestError> {
        crate::kind::decode_payload(payload)
    }

    /// The kind's own checks of its payload (combinations of fields, bounds of
    /// `config.limits`); the account and the delivery are checked for every kind.
    fn check(&self, config: &Config) -> Result<(), JobRequestError>;

    /// Where the outputs are delivered, if anywhere.
    fn deliver(&self) -> Option<&Deliver>;

    /// Whether this kind's callbacks are signed.
    const CALLBACKS: CallbackTrust = CallbackTrust::Unsigned;

    /// Submits the task, or finds the one an interrupted earlier submission created
    /// (`uncertain` is true then: the vendor may have accepted it without creel recording the
    /// answer). Never submits twice for one job where the vendor would bill twice.
    fn submit(
        &self,
        ctx: &JobContext,
        deps: &JobDeps,
        uncertain: Uncertain,
    ) -> impl std::future::Future<Output = Result<Self::Task, SubmitFailed>> + Send;

    /// The signal keys callbacks about `task` arrive on.
    fn keys(&self, account: &str, task: &Self::Task) -> Vec<String>;

    /// Polls `task` (see [`PollState`] for what a poll sees and keeps).
    fn poll(
        &self,
        ctx: &JobContext,
        deps: &JobDeps,
        task: &Self::Task,
        state: &mut PollState<'_>,
    ) -> impl std::future::Future<Output = Result<Polled, JobError>> + Send;
}

impl<K: VendorTask> crate::Kind for K {
    const NAME: &'static str = K::NAME;

    fn decode(payload: &Value) -> Result<Self, JobRequestError> {
        <K as VendorTask>::decode(payload)
    }

    fn validate(&self, request: &JobRequest, config: &Config) -> Result<(), JobRequestError> {
        crate::validate::vendor_account(config, request, K::VENDOR)?;
        self.check(config)?;
        crate::validate::deliver(config, self.deliver(), request)
    }

    async fn run(&self, ctx: &JobContext, deps: &JobDeps) -> Result<StepOutcome, JobError> {
        drive(self, self.deliver(), ctx, deps).await
    }

    async fn after_cancel(
        job: &creel_queue::JobRecord,
        checkpoint: &Value,
        deps: &JobDeps,
    ) -> Option<Value> {
        let left = abandoned(K::VENDOR, checkpoint);
        if left.is_none()
            && never_submitted(checkpoint)
            && let Some(account) = &job.account
            && budget::release_of(deps, &job.id, job.runs, HoldFor::Submission, account).await
        {
            // The submission never began: its budget hold goes back.
            return Some(json!({"budget_hold_released": true}));
        }
        left
    }
}

/// What one poll sees, and what it keeps for the next.
#[derive(Debug)]
pub struct PollState<'a> {
    /// Per key of [`VendorTask::keys`], the callback delivered there; a kind may trust a
    /// signed one instead of calling the vendor.
    pub signals: &'a [Option<Received>],
    /// Vendor status calls so far: every call a poll makes is counted here.
    pub status_calls: &'a mut u32,
    /// How long ago the task was submitted.
    pub since_submit: Duration,
    /// Vendor answers a poll needs again later, saved in the checkpoint whatever the poll's
    /// outcome: a poll that an error (a quota refusal) cuts short resumes after the answers
    /// it already had instead of asking again. Each kind keeps its own fields here.
    pub memo: &'a mut Value,
}

impl PollState<'_> {
    /// Counts one vendor status call.
    pub fn count_call(&mut self) {
        *self.status_calls += 1;
    }

    /// A remembered answer.
    #[must_use]
    pub fn recalled<T: DeserializeOwned>(&self, field: &str) -> Option<T> {
        self.memo
            .get(field)
            .and_then(|v| serde_json::from_value(v.clone()).ok())
    }

    /// Remembers an answer for later polls of this task.
    pub fn remember(&mut self, field: &str, value: impl Serialize) {
        if !self.memo.is_object() {
            *self.memo = json!({});
        }
        if let (Some(m), Ok(v)) = (self.memo.as_object_mut(), serde_json::to_value(value)) {
            m.insert(field.to_owned(), v);
        }
    }
}

/// A submission that failed, and whether the vendor may have created the task anyway.
#[derive(Debug)]
pub struct SubmitFailed {
    /// The job's error.
    pub error: JobError,
    /// The vendor may have acted (creel did not get its answer): the next attempt reconciles.
    pub may_have_acted: bool,
}

impl From<creel_vendors::VendorError> for SubmitFailed {
    fn from(e: creel_vendors::VendorError) -> Self {
        Self {
            may_have_acted: e.may_have_acted(),
            error: e.into(),
        }
    }
}

impl From<JobError> for SubmitFailed {
    /// An error of creel's own before any vendor call.
    fn from(error: JobError) -> Self {
        Self {
            error,
            may_have_acted: false,
        }
    }
}

/// Whether an earlier submission of this job may have reached the vendor unrecorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uncertain {
    /// No earlier attempt began a submission.
    No,
    /// An earlier attempt began one and did not record the vendor's answer.
    Yes,
}

/// What a classroom job keeps in its checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(bound = "T: Serialize + DeserializeOwned")]
struct Progress<T> {
    /// Set (ms) right before a submission call, cleared once its answer is recorded.
    #[serde(default)]
    submitting_since: Option<i64>,
    #[serde(default)]
    task: Option<T>,
    #[serde(default)]
    submitted_at: Option<i64>,
    #[serde(default)]
    status_calls: u32,
    #[serde(default)]
    polls: u32,
    /// The finished task's facts and outputs.
    #[serde(default)]
    done: Option<(Value, Vec<Output>)>,
    /// Child deliveries: (job id, output index).
    #[serde(default)]
    children: Vec<String>,
    /// When the next regular poll is due (ms): a poll that runs earlier was woken by a
    /// callback.
    #[serde(default)]
    due_at: Option<i64>,
    /// When the last callback-woken check ran (ms), to space them.
    #[serde(default)]
    woken_check_at: Option<i64>,
    /// Status calls made because a callback woke the job (not counted in `status_calls`).
    #[serde(default)]
    callback_checks: u32,
    /// The kind's remembered vendor answers ([`PollState::memo`]).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    memo: Value,
    /// What the submission cost (counted against the account's budget before it was made).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    cost: Vec<CostLine>,
}

impl<T> Default for Progress<T> {
    fn default() -> Self {
        Self {
            due_at: None,
            woken_check_at: None,
            callback_checks: 0,
            submitting_since: None,
            task: None,
            submitted_at: None,
            status_calls: 0,
            polls: 0,
            done: None,
            children: Vec::new(),
            memo: Value::Null,
            cost: Vec::new(),
        }
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The account a classroom job acts for (validated at enqueue).
pub(crate) fn account(ctx: &JobContext) -> Result<&str, JobError> {
    ctx.account
        .as_deref()
        .ok_or_else(|| JobError::permanent("the job names no vendor account"))
}

/// Saves `progress` as the job's checkpoint, only while this worker holds the job.
///
/// # Errors
/// It does not serialize (permanent), the lease was lost or Redis failed (retryable).
pub(crate) async fn save<P: Serialize>(
    ctx: &JobContext,
    deps: &JobDeps,
    progress: &P,
) -> Result<(), JobError> {
    let value = serde_json::to_value(progress)
        .map_err(|e| JobError::permanent(format!("checkpoint does not serialize: {e}")))?;
    match deps.queue.save_checkpoint(ctx, &value).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(JobError::retryable(
            "the job's lease was lost; another worker has it",
        )),
        Err(e) => Err(JobError::retryable(format!("saving the checkpoint: {e}"))),
    }
}

/// Runs the current step of a classroom job of kind `kind`.
pub async fn drive<K: VendorTask>(
    kind: &K,
    deliver: Option<&Deliver>,
    ctx: &JobContext,
    deps: &JobDeps,
) -> Result<StepOutcome, JobError> {
    let mut p: Progress<K::Task> = match &ctx.checkpoint {
        Some(v) => serde_json::from_value(v.clone())
            .map_err(|e| JobError::permanent(format!("checkpoint does not load: {e}")))?,
        None => Progress::default(),
    };
    let account = account(ctx)?.to_owned();
    if !p.children.is_empty() {
        return children(ctx, deps, &mut p).await;
    }
    if let Some((facts, outputs)) = p.done.clone() {
        return finish(ctx, deps, deliver, &mut p, facts, outputs).await;
    }
    let policy = deps.config.classroom.poll_for(&ctx.kind).clone();
    let Some(task) = p.task.clone() else {
        let uncertain = if p.submitting_since.is_some() {
            Uncertain::Yes
        } else {
            Uncertain::No
        };
        // A billed submission takes its budget hold first (found again, not counted twice,
        // when an earlier run took it). The checkpoint names the cost before the hold is
        // taken, so a job cancelled before it submits gives the hold back (`after_cancel`).
        let estimate = submission_estimate(deps, K::VENDOR, &account);
        if let Some(line) = estimate.as_ref().filter(|_| p.cost.is_empty()) {
            p.cost = vec![line.clone()];
            save(ctx, deps, &p).await?;
        }
        let cost = match budget::hold(ctx, deps, HoldFor::Submission, estimate).await? {
            Hold::Go(line) => line,
            Hold::Wait(outcome) => {
                p.cost.clear();
                save(ctx, deps, &p).await?;
                return Ok(outcome);
            }
        };
        p.cost = cost.iter().cloned().collect();
        p.submitting_since = Some(now_ms());
        save(ctx, deps, &p).await?;
        let task = match kind.submit(ctx, deps, uncertain).await {
            Ok(t) => t,
            Err(f) => {
                if !f.may_have_acted {
                    // Nothing reached the vendor: the next attempt need not reconcile, and
                    // the hold goes back to the budget.
                    p.submitting_since = None;
                    p.cost.clear();
                    save(ctx, deps, &p).await?;
                    if cost.is_some() {
                        budget::release(ctx, deps, HoldFor::Submission, &account).await;
                    }
                }
                return Err(f.error);
            }
        };
        if let Some(line) = &cost {
            budget::record_metrics(line);
        }
        p.task = Some(task.clone());
        p.submitting_since = None;
        p.submitted_at = Some(now_ms());
        save(ctx, deps, &p).await?;
        let keys = kind.keys(&account, &task);
        let early = listen(ctx, deps, &keys).await?;
        let after = if early.iter().any(Option::is_some) {
            Duration::ZERO
        } else {
            policy.wait(0, fastrand::f64())
        };
        p.due_at = Some(now_ms() + i64::try_from(after.as_millis()).unwrap_or(i64::MAX));
        save(ctx, deps, &p).await?;
        return Ok(StepOutcome::Continue {
            step: "poll".into(),
            after,
        });
    };
    let elapsed = Duration::from_millis(
        u64::try_from(now_ms() - p.submitted_at.unwrap_or_else(now_ms)).unwrap_or(0),
    );
    if elapsed > Duration::from_secs(policy.deadline_secs) {
        return Err(JobError::permanent(format!(
            "the vendor task did not finish within the {} s deadline of {}",
            policy.deadline_secs, ctx.kind
        )));
    }
    if p.status_calls >= policy.max_status_calls {
        return Err(JobError::permanent(format!(
            "the vendor task did not finish within {} status calls",
            policy.max_status_calls
        )));
    }
    let keys = kind.keys(&account, &task);
    let signals = listen(ctx, deps, &keys).await?;
    // A callback made this poll due before its time. Such checks do not spend the status-call
    // budget, so callbacks cannot make a job fail on its cap; those of unsigned callbacks
    // (Plaso's) are also spaced by `callback_check_min_interval_ms`, so a flood of forged
    // ones cannot drive vendor calls. A signed callback's check runs at once.
    let now = now_ms();
    let woken = p.due_at.is_some_and(|due| now < due);
    if woken {
        // The callbacks that woke this step, as links of its span.
        for received in signals.iter().flatten() {
            creel_queue::trace::StoredContext {
                traceparent: received.traceparent.clone(),
                tracestate: None,
            }
            .link_current();
        }
    }
    if woken && K::CALLBACKS == CallbackTrust::Unsigned {
        let gap =
            i64::try_from(deps.config.classroom.callback_check_min_interval_ms).unwrap_or(i64::MAX);
        if let Some(last) = p.woken_check_at
            && now - last < gap
        {
            let until = p.due_at.unwrap_or(now).min(last.saturating_add(gap));
            return Ok(StepOutcome::Continue {
                step: "poll".into(),
                after: Duration::from_millis(u64::try_from(until - now).unwrap_or(0)),
            });
        }
        p.woken_check_at = Some(now);
    }
    let before = p.status_calls;
    let memo_before = p.memo.clone();
    let mut state = PollState {
        signals: &signals,
        status_calls: &mut p.status_calls,
        since_submit: elapsed,
        memo: &mut p.memo,
    };
    let polled = kind.poll(ctx, deps, &task, &mut state).await;
    if woken {
        p.callback_checks += p.status_calls - before;
        p.status_calls = before;
    }
    if p.status_calls != before || woken || p.memo != memo_before {
        // Status calls count even when the poll failed (the cap is about vendor load), and
        // the answers it got are kept for the next poll.
        save(ctx, deps, &p).await?;
    }
    match polled? {
        Polled::Pending(said) => {
            p.polls += 1;
            let after = policy.wait(p.polls, fastrand::f64());
            p.due_at = Some(now_ms() + i64::try_from(after.as_millis()).unwrap_or(i64::MAX));
            save(ctx, deps, &p).await?;
            let progress = json!({"vendor": said, "status_calls": p.status_calls,
                "callback_checks": p.callback_checks, "polls": p.polls});
            if let Err(e) = deps.queue.report_progress(ctx, &progress).await {
                tracing::debug!(error = %e, "could not report progress");
            }
            Ok(StepOutcome::Continue {
                step: "poll".into(),
                after,
            })
        }
        Polled::Done { facts, outputs } => {
            p.done = Some((facts.clone(), outputs.clone()));
            save(ctx, deps, &p).await?;
            finish(ctx, deps, deliver, &mut p, facts, outputs).await
        }
    }
}

async fn listen(
    ctx: &JobContext,
    deps: &JobDeps,
    keys: &[String],
) -> Result<Vec<Option<Received>>, JobError> {
    let signals = deps
        .queue
        .listen(ctx, keys, SIGNAL_TTL)
        .await
        .map_err(|e| JobError::retryable(format!("listening for callbacks: {e}")))?;
    // A signal that does not decode (stored by an older creel) is as good as none: the poll
    // asks the vendor.
    Ok(signals
        .into_iter()
        .map(|s| s.and_then(|v| serde_json::from_value(v).ok()))
        .collect())
}

/// The task is done: without `deliver` the job ends with the vendor's result; with it, one
/// child `download` per output is enqueued (idempotently, keyed by this job and the output) and
/// their ids saved before waiting on them.
async fn finish<T: Serialize + DeserializeOwned>(
    ctx: &JobContext,
    deps: &JobDeps,
    deliver: Option<&Deliver>,
    p: &mut Progress<T>,
    facts: Value,
    outputs: Vec<Output>,
) -> Result<StepOutcome, JobError> {
    let Some(deliver) = deliver else {
        return Ok(StepOutcome::Done(result(&facts, &outputs, None, &p.cost)));
    };
    let account = account(ctx)?;
    let template = deliver
        .key
        .clone()
        .unwrap_or_else(|| "{account}/{kind}/{date}/{parent}-{index}.mp4".to_owned());
    let trace = creel_queue::trace::StoredContext::of_job(ctx).current_or();
    let mut children = Vec::with_capacity(outputs.len());
    for (i, o) in outputs.iter().enumerate() {
        // `{date}` and `{account}` are the delivery's to fill, as for any download.
        let key = key_template::expand(
            &template,
            &[
                Placeholder::Parent(ctx.id.as_str()),
                Placeholder::Index(i + 1),
                Placeholder::Kind(&ctx.kind),
            ],
        );
        let spec = DownloadSpec {
            source: match &o.source {
                DeliverySource::Reference(r) => DownloadSource::Vendor(r.clone()),
                DeliverySource::Url(u) => DownloadSource::Url(u.clone()),
            },
            profile: deliver.profile.clone(),
            key: Some(key),
            expected_md5: o.md5.clone(),
            expected_length: None,
            max_bytes: None,
            size_hint: vendor_size(o),
        };
        let payload = serde_json::to_value(&spec)
            .map_err(|e| JobError::permanent(format!("a delivery does not serialize: {e}")))?;
        let request = JobRequest {
            queue: ctx.queue.clone(),
            account: Some(account.to_owned()),
            idempotency_key: Some(format!("{}:deliver:{}", ctx.id, i + 1)),
            // The delivery's `send` span continues this step's trace (or the parent's stored
            // context, without an OTel layer): one tree from the request to the stored objects.
            traceparent: trace.traceparent.clone(),
            tracestate: trace.tracestate.clone(),
            created_by: ctx.owner.clone(),
            idempotency_scope: IdempotencyScope::Internal,
            ..JobRequest::new(<DownloadSpec as crate::Kind>::NAME, payload)
        };
        let enqueued = deps
            .queue
            .enqueue(request)
            .await
            .map_err(|e| JobError::retryable(format!("enqueueing a delivery: {e}")))?;
        if !enqueued.created {
            adopt(ctx, deps, &enqueued.id, &spec).await?;
        }
        deps.queue
            .link_child(&ctx.id, &enqueued.id)
            .await
            .map_err(|e| JobError::retryable(format!("linking a delivery: {e}")))?;
        children.push(enqueued.id.to_string());
    }
    p.children = children;
    save(ctx, deps, p).await?;
    Ok(StepOutcome::Continue {
        step: "deliver".into(),
        after: CHILD_SAFETY_WAIT,
    })
}

/// An earlier attempt of this step already enqueued the delivery under its key: adopt it only
/// if it is this job's own (the same payload, and no other parent). Anything else under the key
/// is an error, never a silent link.
async fn adopt(
    ctx: &JobContext,
    deps: &JobDeps,
    child: &creel_core::JobId,
    spec: &DownloadSpec,
) -> Result<(), JobError> {
    let rec = deps
        .queue
        .get(child)
        .await
        .map_err(|e| JobError::retryable(format!("reading delivery {child}: {e}")))?
        .ok_or_else(|| {
            JobError::retryable(format!("delivery {child} vanished; enqueueing again"))
        })?;
    // The size hint only counts against budgets (and deliveries enqueued before it existed
    // have none): the rest must be equal.
    let ours = rec.kind == <DownloadSpec as crate::Kind>::NAME
        && serde_json::from_value::<DownloadSpec>(rec.payload).is_ok_and(|p| {
            DownloadSpec {
                size_hint: spec.size_hint,
                ..p
            } == *spec
        })
        && rec.created_by == ctx.owner
        && rec.parent.as_ref().is_none_or(|p| *p == ctx.id);
    if ours {
        Ok(())
    } else {
        Err(JobError::permanent(format!(
            "the delivery key of this job names job {child}, which is not this job's delivery"
        )))
    }
}

/// A stored delivery must be the vendor's file: its MD5 and length are checked here too, not
/// only by the child, so a delivery that is not this job's own cannot end it `succeeded`.
fn check_delivery(id: &str, output: Option<&Output>, stored: &Value) -> Result<(), JobError> {
    let Some(output) = output else {
        return Ok(());
    };
    if let Some(want) = &output.md5
        && !stored["md5"]
            .as_str()
            .is_some_and(|got| got.eq_ignore_ascii_case(want))
    {
        return Err(JobError::permanent(format!(
            "delivery job {id} stored MD5 {} but the vendor's is {want}",
            stored["md5"]
        )));
    }
    if let Some(want) = vendor_size(output)
        && stored["bytes"].as_u64().is_some_and(|got| got != want)
    {
        return Err(JobError::permanent(format!(
            "delivery job {id} stored {} bytes but the vendor reports {want}",
            stored["bytes"]
        )));
    }
    Ok(())
}

/// The size the vendor states for an output (`total_size` or `size` in its facts).
fn vendor_size(output: &Output) -> Option<u64> {
    ["total_size", "size"]
        .iter()
        .find_map(|f| output.facts[*f].as_u64().filter(|n| *n > 0))
}

/// Waits for the child deliveries: done when all succeeded, failed when one failed for good.
async fn children<T: Serialize + DeserializeOwned>(
    ctx: &JobContext,
    deps: &JobDeps,
    p: &mut Progress<T>,
) -> Result<StepOutcome, JobError> {
    let mut stored = Vec::with_capacity(p.children.len());
    let outputs = p.done.as_ref().map(|(_, o)| o.clone()).unwrap_or_default();
    for (i, id) in p.children.iter().enumerate() {
        let job_id = id
            .parse()
            .map_err(|_| JobError::permanent(format!("bad child job id {id:?}")))?;
        let rec = deps
            .queue
            .get(&job_id)
            .await
            .map_err(|e| JobError::retryable(format!("reading child {id}: {e}")))?
            .ok_or_else(|| JobError::permanent(format!("delivery job {id} is gone")))?;
        match rec.state {
            JobState::Succeeded => {
                let mut r = rec.result.unwrap_or(Value::Null);
                check_delivery(id, outputs.get(i), &r)?;
                r["job_id"] = json!(id);
                stored.push(r);
            }
            JobState::Failed | JobState::Cancelled => {
                if deps.queue.cancel_requested(ctx).await.unwrap_or(false) {
                    // This job is being cancelled (and its children with it): hand over, and
                    // the queue ends it as cancelled at this boundary.
                    return Ok(StepOutcome::Continue {
                        step: "deliver".into(),
                        after: Duration::ZERO,
                    });
                }
                return Err(JobError::permanent(format!(
                    "delivery job {id} ended {}: {}",
                    rec.state.as_str(),
                    rec.last_error.unwrap_or_default()
                )));
            }
            _ => {
                // Woken again when this child (or another) ends.
                return Ok(StepOutcome::Continue {
                    step: "deliver".into(),
                    after: CHILD_SAFETY_WAIT,
                });
            }
        }
    }
    let (facts, outputs) = p.done.clone().unwrap_or((Value::Null, Vec::new()));
    Ok(StepOutcome::Done(result(
        &facts,
        &outputs,
        Some(stored),
        &p.cost,
    )))
}

/// A classroom job's result: the task's facts, its outputs, what the deliveries stored, and
/// the cost of the job with its deliveries (their `cost` lines summed into its own).
fn result(
    facts: &Value,
    outputs: &[Output],
    stored: Option<Vec<Value>>,
    own: &[CostLine],
) -> Value {
    let mut r = json!({
        "task": facts,
        "outputs": outputs.iter().map(|o| o.facts.clone()).collect::<Vec<_>>(),
    });
    let children = stored.iter().flatten().flat_map(|s| {
        serde_json::from_value::<Vec<CostLine>>(s["cost"].clone()).unwrap_or_default()
    });
    let cost = merge_costs(own.iter().cloned().chain(children));
    if let Some(stored) = stored {
        r["stored"] = json!(stored);
    }
    r["cost"] = json!(cost);
    r
}

/// What a submission of `vendor` is counted as before it is made: Plaso's export by the hours
/// configured per export (Plaso tells neither the classroom's length nor the video's). The
/// other vendors' submissions are not billed; their traffic is counted by the downloads.
fn submission_estimate(deps: &JobDeps, vendor: Vendor, account: &str) -> Option<CostLine> {
    let pricing = deps.config.costs.pricing(vendor, account)?;
    if pricing.unit != CostUnit::TranscodedHour {
        return None;
    }
    let hours = deps.config.costs.estimated_hours(account);
    budget::cost_line(
        &deps.config.costs,
        vendor,
        account,
        hours,
        CostBasis::Estimated,
    )
}

/// After a classroom job of `vendor` was cancelled: the vendor task its checkpoint names, if it
/// was submitted and had not finished. No vendor lets creel cancel one, so it keeps running
/// (and is billed); the answer, kept on the job, names it as abandoned for reconciliation. A
/// submission that began without its answer recorded is named as possibly abandoned.
#[must_use]
pub fn abandoned(vendor: Vendor, checkpoint: &Value) -> Option<Value> {
    let p: Progress<Value> = serde_json::from_value(checkpoint.clone()).ok()?;
    if p.done.is_some() {
        return None;
    }
    match (p.task, p.submitting_since) {
        (Some(task), _) => Some(json!({"abandoned_vendor_task": {"vendor": vendor, "task": task}})),
        (None, Some(since)) => Some(json!({"abandoned_vendor_task": {
            "vendor": vendor,
            "uncertain": true,
            "reason": "a submission began and its answer was not recorded",
            "submitting_since_ms": since,
        }})),
        (None, None) => None,
    }
}

/// Whether the checkpoint shows no submission began (no task, no intent marker, not done).
fn never_submitted(checkpoint: &Value) -> bool {
    serde_json::from_value::<Progress<Value>>(checkpoint.clone())
        .is_ok_and(|p| p.task.is_none() && p.submitting_since.is_none() && p.done.is_none())
}

/// The vendor's task ended in failure status `status`: a permanent failure whose event carries
/// the status and `message`.
pub(crate) fn task_failed(vendor: Vendor, status: i64, message: &str) -> JobError {
    JobError::Vendor(VendorFailure::task(vendor, status, message))
}
