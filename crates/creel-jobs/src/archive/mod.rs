//! `archive.scan`: backfill every past lesson of a vendor account into a storage profile. The
//! scan walks the vendor's list page by page ([`lessons`]) and enqueues one archive job per
//! lesson not archived yet, as its child:
//!
//! - **Deduplicated**: a lesson archived to a profile is marked (`archive:<account>:<profile>:
//!   <source>:<lesson>` → its job, kept for years), and the job is enqueued under an idempotency
//!   key of the same name, so a lesson is never enqueued twice for one profile, by one scan or
//!   the next; running a scan again enqueues nothing new.
//! - **Resumable**: the checkpoint keeps the page being worked on (its lessons, read once) and
//!   the next lesson, saved after each one, so a killed scan continues where it stopped.
//! - **Bounded**: at most `max_in_flight` of its jobs are unfinished at once; a full scan waits
//!   (each child that ends wakes it). Its vendor list calls go through the account's quota.

pub mod lessons;

use std::time::Duration;

use chrono::{DateTime, Utc};
use creel_core::{
    Config, IdempotencyScope, JobError, JobId, JobRequest, JobRequestError, JobState,
};
use creel_queue::{JobContext, Queue, StepOutcome};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::JobDeps;
use crate::classroom::{Deliver, save};
use crate::key_template::{self, Placeholder};
pub use lessons::{Lesson, LessonPage, LessonSource, Window, list_page};

/// How long a lesson's archive mark is kept: as good as for ever.
const MARK_TTL: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// The longest a full scan waits before looking at its jobs again (each that ends wakes it
/// sooner).
const FULL_WAIT: Duration = Duration::from_secs(60);
/// The default key of an archived lesson's object.
pub const DEFAULT_KEY: &str = "{account}/archive/{lesson}-{index}.mp4";
/// The most ids of earlier failed archive jobs a scan's result lists.
const MAX_LISTED_FAILURES: usize = 100;

/// The payload of an `archive.scan` job (the job's `account` is the vendor account).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveScanSpec {
    /// Where the lessons come from.
    pub source: LessonSource,
    /// Lessons made at or after this (`YYYY-MM-DD` or `YYYY-MM-DD HH:MM:SS`, in the usage
    /// calendar's zone, `costs.utc_offset_minutes`).
    pub since: String,
    /// Lessons made at or before this (default: when the scan started, so lessons made while
    /// it runs are left to the next scan).
    #[serde(default)]
    pub until: Option<String>,
    /// `plaso_records`: the record ids to export (Plaso has no list API).
    #[serde(default)]
    pub record_ids: Vec<String>,
    /// Where the lessons go: the profile, and the key template (over `{lesson}` and the
    /// classroom's placeholders; default [`DEFAULT_KEY`]).
    pub deliver: Deliver,
    /// At most this many of its archive jobs unfinished at once (default
    /// `archive.max_in_flight`, and never more).
    #[serde(default)]
    pub max_in_flight: Option<u32>,
}

impl ArchiveScanSpec {
    /// The window of the scan; `until` is the one fixed at its first run.
    fn window(&self, config: &Config, until: DateTime<Utc>) -> Window<'_> {
        let calendar = config.costs.calendar();
        Window {
            since: calendar
                .parse_time(&self.since)
                .unwrap_or(DateTime::UNIX_EPOCH),
            until,
            record_ids: &self.record_ids,
        }
    }

    /// The end of the window as given, or `now`.
    #[must_use]
    pub fn until_or(&self, config: &Config, now: DateTime<Utc>) -> DateTime<Utc> {
        let calendar = config.costs.calendar();
        self.until
            .as_deref()
            .and_then(|u| calendar.parse_end(u))
            .unwrap_or(now)
    }

    /// The job that archives `lesson`: its kind, its payload with the delivery, and the
    /// idempotency key it is enqueued under.
    #[must_use]
    pub fn job_for(&self, account: &str, lesson: &Lesson) -> (String, Value, String) {
        let template = self.deliver.key.as_deref().unwrap_or(DEFAULT_KEY);
        let key = key_template::expand(template, &[Placeholder::Lesson(&lesson.id)]);
        let mut payload = lesson.payload.clone();
        payload["deliver"] = json!({"profile": self.deliver.profile, "key": key});
        (
            lesson.kind.clone(),
            payload,
            mark(account, &self.deliver.profile, self.source, &lesson.id),
        )
    }
}

/// The name of the mark (and idempotency key) of `lesson` archived to `profile`.
#[must_use]
pub fn mark(account: &str, profile: &str, source: LessonSource, lesson: &str) -> String {
    format!("archive:{account}:{profile}:{}:{lesson}", source.as_str())
}

/// Whether `lesson` was archived (or is being archived) to the scan's profile: the job that
/// did it, if its mark names one.
///
/// # Errors
/// Redis failed.
pub async fn archived_by(
    queue: &Queue,
    account: &str,
    spec: &ArchiveScanSpec,
    lesson: &Lesson,
) -> Result<Option<JobId>, JobError> {
    let key = mark(account, &spec.deliver.profile, spec.source, &lesson.id);
    let id = queue.get_shared(&key).await.map_err(redis)?;
    Ok(id.and_then(|i| i.parse().ok()))
}

/// What a scan keeps in its checkpoint.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct ScanProgress {
    /// The end of the window, fixed at the first run.
    #[serde(default)]
    until: Option<DateTime<Utc>>,
    /// The page being worked on (from 1; 0 before the first).
    #[serde(default)]
    page: u32,
    /// Its lessons, as read.
    #[serde(default)]
    lessons: Vec<Lesson>,
    /// It was the last page.
    #[serde(default)]
    last: bool,
    /// The next lesson of the page.
    #[serde(default)]
    next: usize,
    /// This scan's archive jobs not known to have ended.
    #[serde(default)]
    in_flight: Vec<String>,
    /// Lessons this scan enqueued.
    #[serde(default)]
    enqueued: u64,
    /// Lessons archived (or being archived) before this scan reached them.
    #[serde(default)]
    already: u64,
    /// Earlier archive jobs of its owner that failed or were cancelled (not enqueued again:
    /// retry them, or they stay as they are).
    #[serde(default)]
    earlier_failed: Vec<String>,
}

impl crate::Kind for ArchiveScanSpec {
    const NAME: &'static str = "archive.scan";

    fn decode(payload: &Value) -> Result<Self, JobRequestError> {
        crate::kind::decode_payload(payload)
    }

    fn validate(&self, request: &JobRequest, config: &Config) -> Result<(), JobRequestError> {
        crate::validate::vendor_account(config, request, self.source.vendor())?;
        let calendar = config.costs.calendar();
        let since = calendar.parse_time(&self.since).ok_or_else(|| {
            JobRequestError::new("payload.since", "must be YYYY-MM-DD or YYYY-MM-DD HH:MM:SS")
        })?;
        if let Some(until) = &self.until {
            let until = calendar.parse_end(until).ok_or_else(|| {
                JobRequestError::new("payload.until", "must be YYYY-MM-DD or YYYY-MM-DD HH:MM:SS")
            })?;
            if until < since {
                return Err(JobRequestError::new(
                    "payload.until",
                    "must not be before since",
                ));
            }
        }
        match self.source {
            LessonSource::PlasoRecords if self.record_ids.is_empty() => {
                return Err(JobRequestError::new(
                    "payload.record_ids",
                    "plaso_records needs the record ids to export (Plaso has no list API)",
                ));
            }
            LessonSource::PlasoRecords => {}
            _ if !self.record_ids.is_empty() => {
                return Err(JobRequestError::new(
                    "payload.record_ids",
                    "only a plaso_records scan takes record ids",
                ));
            }
            _ => {}
        }
        if self.record_ids.len() > config.archive.max_record_ids {
            return Err(JobRequestError::new(
                "payload.record_ids",
                format!(
                    "at most {} (archive.max_record_ids)",
                    config.archive.max_record_ids
                ),
            ));
        }
        if let Some(i) = self.record_ids.iter().position(|r| {
            r.is_empty() || r.len() > 128 || r.chars().any(|c| c.is_control() || c.is_whitespace())
        }) {
            return Err(JobRequestError::new(
                format!("payload.record_ids[{i}]"),
                "must be 1 to 128 characters without spaces or control characters",
            ));
        }
        if let Some(n) = self.max_in_flight
            && (n == 0 || n > config.archive.max_in_flight)
        {
            return Err(JobRequestError::new(
                "payload.max_in_flight",
                format!(
                    "must be 1 to {} (archive.max_in_flight)",
                    config.archive.max_in_flight
                ),
            ));
        }
        // The key as its lessons' jobs will render it: `{lesson}` here, the rest as any
        // classroom delivery's.
        let rendered = Deliver {
            profile: self.deliver.profile.clone(),
            key: Some(key_template::expand(
                self.deliver.key.as_deref().unwrap_or(DEFAULT_KEY),
                &[Placeholder::Lesson("18072333155594-201807230")],
            )),
        };
        crate::validate::deliver(config, Some(&rendered), request)
    }

    async fn run(&self, ctx: &JobContext, deps: &JobDeps) -> Result<StepOutcome, JobError> {
        scan(self, ctx, deps).await
    }

    async fn after_cancel(_: &creel_queue::JobRecord, _: &Value, _: &JobDeps) -> Option<Value> {
        None
    }
}

/// What became of one lesson.
enum Archived {
    /// This scan enqueued its job now.
    Enqueued(String),
    /// This scan enqueued its job before (a run that died before saving it, or the lesson
    /// came round again on a later page); its id, and whether it is still unfinished.
    Ours(String, JobState),
    /// It was archived, or is being archived, by an earlier job.
    Already,
    /// An earlier archive job of the same owner failed or was cancelled.
    EarlierFailed(String),
}

fn redis(e: creel_queue::QueueError) -> JobError {
    JobError::retryable(format!("redis: {e}"))
}

async fn scan(
    spec: &ArchiveScanSpec,
    ctx: &JobContext,
    deps: &JobDeps,
) -> Result<StepOutcome, JobError> {
    let account = crate::classroom::account(ctx)?.to_owned();
    let mut p: ScanProgress = match &ctx.checkpoint {
        Some(v) => serde_json::from_value(v.clone())
            .map_err(|e| JobError::permanent(format!("checkpoint does not load: {e}")))?,
        None => ScanProgress::default(),
    };
    let until = *p
        .until
        .get_or_insert_with(|| spec.until_or(&deps.config, Utc::now()));
    let max = spec
        .max_in_flight
        .unwrap_or(deps.config.archive.max_in_flight)
        .max(1) as usize;
    // Forget the jobs that ended since the last look.
    let mut in_flight = Vec::with_capacity(p.in_flight.len());
    for id in &p.in_flight {
        if !ended(&deps.queue, id).await? {
            in_flight.push(id.clone());
        }
    }
    p.in_flight = in_flight;
    loop {
        if p.next >= p.lessons.len() {
            if p.page > 0 && p.last {
                return Ok(StepOutcome::Done(json!({
                    "source": spec.source.as_str(),
                    "since": spec.since,
                    "until": until,
                    "pages": p.page,
                    "enqueued": p.enqueued,
                    "already_archived": p.already,
                    "earlier_failed": p.earlier_failed,
                })));
            }
            let page = p.page + 1;
            let read = list_page(
                &deps.vendors,
                &deps.config,
                &account,
                spec.source,
                spec.window(&deps.config, until),
                page,
            )
            .await?;
            p.page = page;
            // Lessons made while the scan pages push older ones onto later pages (the lists
            // are newest first): the ones the last page had already are not counted again.
            let previous: std::collections::HashSet<&str> =
                p.lessons.iter().map(|l| l.id.as_str()).collect();
            let fresh: Vec<Lesson> = read
                .lessons
                .into_iter()
                .filter(|l| !previous.contains(l.id.as_str()))
                .collect();
            p.lessons = fresh;
            p.last = read.last;
            p.next = 0;
            save(ctx, deps, &p).await?;
            report(ctx, deps, &p).await;
            continue;
        }
        if p.in_flight.len() >= max {
            save(ctx, deps, &p).await?;
            report(ctx, deps, &p).await;
            return Ok(StepOutcome::Continue {
                step: "scan".into(),
                after: FULL_WAIT,
            });
        }
        let lesson = p.lessons[p.next].clone();
        match archive(spec, ctx, deps, &account, &lesson).await? {
            Archived::Enqueued(id) => {
                p.enqueued += 1;
                p.in_flight.push(id);
            }
            // Enqueued by a run of this scan that died before saving it (count it now), or seen
            // again after newer lessons pushed it onto a later page (counted already).
            Archived::Ours(id, state) => {
                if !p.in_flight.contains(&id) && !state.is_terminal() {
                    p.enqueued += 1;
                    p.in_flight.push(id);
                }
            }
            Archived::Already => p.already += 1,
            Archived::EarlierFailed(id) => {
                p.already += 1;
                if p.earlier_failed.len() < MAX_LISTED_FAILURES {
                    p.earlier_failed.push(id);
                }
            }
        }
        p.next += 1;
        save(ctx, deps, &p).await?;
    }
}

/// Shows how far the scan is as the job's progress (`creel jobs watch`, the API): the page,
/// lessons enqueued and already archived, and its jobs in flight.
async fn report(ctx: &JobContext, deps: &JobDeps, p: &ScanProgress) {
    let progress = json!({"page": p.page, "enqueued": p.enqueued,
        "already_archived": p.already, "in_flight": p.in_flight.len()});
    if let Err(e) = deps.queue.report_progress(ctx, &progress).await {
        tracing::debug!(error = %e, "could not report progress");
    }
}

/// Whether job `id` ended (or is gone).
async fn ended(queue: &Queue, id: &str) -> Result<bool, JobError> {
    let Ok(job) = id.parse::<JobId>() else {
        return Ok(true);
    };
    Ok(queue
        .get(&job)
        .await
        .map_err(redis)?
        .is_none_or(|r| r.state.is_terminal()))
}

/// Enqueues the job of `lesson` unless it was archived; marks it archived.
async fn archive(
    spec: &ArchiveScanSpec,
    ctx: &JobContext,
    deps: &JobDeps,
    account: &str,
    lesson: &Lesson,
) -> Result<Archived, JobError> {
    let queue = &deps.queue;
    if let Some(id) = archived_by(queue, account, spec, lesson).await? {
        let rec = queue.get(&id).await.map_err(redis)?;
        return Ok(match rec {
            Some(r) if r.parent.as_ref() == Some(&ctx.id) => {
                Archived::Ours(id.to_string(), r.state)
            }
            Some(r)
                if matches!(r.state, JobState::Failed | JobState::Cancelled)
                    && r.created_by == ctx.owner =>
            {
                Archived::EarlierFailed(id.to_string())
            }
            _ => Archived::Already,
        });
    }
    let (kind, payload, key) = spec.job_for(account, lesson);
    let trace = creel_queue::trace::StoredContext::of_job(ctx).current_or();
    let request = JobRequest {
        queue: ctx.queue.clone(),
        account: Some(account.to_owned()),
        idempotency_key: Some(key.clone()),
        traceparent: trace.traceparent,
        tracestate: trace.tracestate,
        created_by: ctx.owner.clone(),
        idempotency_scope: IdempotencyScope::Internal,
        ..JobRequest::new(kind, payload)
    };
    crate::validate_payload(&request, &deps.config)
        .map_err(|e| JobError::permanent(format!("lesson {}: {e}", lesson.id)))?;
    let enqueued = queue
        .enqueue(request)
        .await
        .map_err(|e| JobError::retryable(format!("enqueueing lesson {}: {e}", lesson.id)))?;
    let ours = if enqueued.created {
        true
    } else {
        // Enqueued under this key before its mark was written: by a run of this scan that
        // died in between (no parent yet, or this scan), or by another scan.
        let rec = queue.get(&enqueued.id).await.map_err(redis)?;
        rec.is_some_and(|r| r.parent.as_ref().is_none_or(|p| *p == ctx.id))
    };
    if ours {
        queue
            .link_child(&ctx.id, &enqueued.id)
            .await
            .map_err(|e| JobError::retryable(format!("linking lesson {}: {e}", lesson.id)))?;
    }
    queue
        .set_shared(&key, enqueued.id.as_str(), MARK_TTL)
        .await
        .map_err(redis)?;
    Ok(if ours {
        Archived::Enqueued(enqueued.id.to_string())
    } else {
        Archived::Already
    })
}
