//! State one worker process shares between its fetcher, its ack layer and its maintenance
//! loops: its identity, the leases it holds, and the scripts that end a lease.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use creel_core::{JobError, JobState, VendorFailure};

use tokio::sync::{mpsc, oneshot};

use crate::events::EventSubject;
use crate::{JobContext, Queue, QueueError, StepOutcome};

/// A lease this worker holds.
#[derive(Debug, Clone)]
pub(crate) struct HeldLease {
    pub(crate) token: String,
    /// Handed to apalis (a step is running); unstarted leases are given back on close.
    pub(crate) started: bool,
}

/// One worker's shared state.
#[derive(Debug)]
pub(crate) struct WorkerShared {
    pub(crate) queue: Queue,
    pub(crate) queue_name: String,
    pub(crate) worker_id: String,
    pub(crate) leases: Mutex<HashMap<String, HeldLease>>,
    /// Step outcomes waiting to be recorded by [`record_outcomes`].
    pub(crate) finisher: mpsc::UnboundedSender<FinishRequest>,
    /// Jobs [`record_outcomes`] leased into the slots its outcomes freed (the fetch script's
    /// reply), on their way to the fetcher, which hands them to apalis.
    pub(crate) leased: mpsc::UnboundedSender<crate::lease_reply::LeaseReply>,
    /// Numbers each lease call, so every lease token is unique.
    pub(crate) lease_calls: AtomicU64,
    /// Set when the worker starts closing: outcomes are still recorded, but no more jobs leased.
    pub(crate) closing: AtomicBool,
    /// Held by a call that leases while recording outcomes, and by the close before it gives
    /// back unstarted leases, so none is leased behind its back.
    pub(crate) lease_gate: tokio::sync::Mutex<()>,
    /// Where the heartbeat loop reports its turns.
    pub(crate) health: crate::WorkerHealth,
    /// How long this worker's steps take, which sets its prefetch.
    pub(crate) step_times: crate::prefetch::StepTimes,
}

/// One step outcome on its way to `finish.lua`, with the channel its answer goes back on.
#[derive(Debug)]
pub(crate) struct FinishRequest {
    args: Vec<String>,
    done: oneshot::Sender<Result<(i64, String), QueueError>>,
}

/// Outcomes per `finish.lua` call at most.
const FINISH_BATCH: usize = 128;

/// Records step outcomes, batching whatever is waiting into one script call: under load one
/// call carries many outcomes (Redis's per-call overhead dominates a single ack); when idle,
/// an outcome is sent at once, with no added delay. The same call leases jobs into the slots
/// the outcomes free (up to the worker's fetch batch of unstarted leases), so a busy worker
/// makes one round trip per batch of steps instead of an ack and a fetch.
pub(crate) async fn record_outcomes(
    shared: std::sync::Arc<WorkerShared>,
    mut requests: mpsc::UnboundedReceiver<FinishRequest>,
) {
    let mut batch = Vec::with_capacity(FINISH_BATCH);
    while requests.recv_many(&mut batch, FINISH_BATCH).await > 0 {
        let (args, waiters): (Vec<_>, Vec<_>) = batch.drain(..).map(|r| (r.args, r.done)).unzip();
        let gate = shared.lease_gate.lock().await;
        let want = shared.room_for(args.len());
        let recorded = finish_batch(&shared, args, want).await;
        drop(gate);
        match recorded {
            Ok(replies) => {
                for (w, r) in waiters.into_iter().zip(replies) {
                    let _ = w.send(Ok(r));
                }
            }
            Err(e) => {
                let text = e.to_string();
                for w in waiters {
                    let _ = w.send(Err(QueueError::Batch(text.clone())));
                }
            }
        }
    }
}

/// Runs `finish.lua` for `jobs`, leasing up to `lease` more jobs in the same call; the leased
/// ones are held and sent to the fetcher before the outcomes' answers go back, so the slots
/// they free find them waiting.
async fn finish_batch(
    shared: &WorkerShared,
    jobs: Vec<Vec<String>>,
    lease: usize,
) -> Result<Vec<(i64, String)>, QueueError> {
    let queue = &shared.queue;
    let cfg = queue.config();
    let mut inv = queue.scripts.finish.prepare_invoke();
    inv.key(cfg.queue_base(&shared.queue_name))
        .arg(cfg.events_max_len);
    shared.lease_args(&mut inv, lease);
    for job in &jobs {
        for a in job {
            inv.arg(a);
        }
    }
    let mut conn = queue.conn.clone();
    let (flat, leased): (Vec<redis::Value>, Vec<redis::Value>) =
        inv.invoke_async(&mut conn).await?;
    match crate::lease_reply::LeaseReply::decode(leased) {
        Ok(leased) if leased.rows() > 0 => {
            shared.hold_leased(&leased);
            // A fetcher that is gone (the worker closed) leaves them unstarted: the close
            // gives them back.
            let _ = shared.leased.send(leased);
        }
        Ok(_) => {}
        Err(e) => {
            tracing::error!(error = %e, "jobs leased with step outcomes do not decode; their leases will expire");
        }
    }
    // The outcomes are recorded either way. One that a failover loses before it reached a
    // replica takes its event with it (one script, one replicated unit): the job's lease
    // expires on the new primary and the step runs again.
    if let Err(e) = queue.wait_for_replicas(&mut conn).await {
        tracing::warn!(error = %e, "step outcomes not yet replicated");
    }
    let mut out = Vec::with_capacity(jobs.len());
    let mut woke_parents = false;
    for triple in flat.chunks_exact(3) {
        out.push((
            redis::from_redis_value_ref(&triple[0])?,
            redis::from_redis_value_ref(&triple[1])?,
        ));
        woke_parents |= redis::from_redis_value_ref::<i64>(&triple[2])? == 1;
    }
    // Jobs that ended put their parents (in whatever queue) in this queue's wake-up outbox;
    // wake them now. If this fails or the process dies first, a reaper pass does it.
    if woke_parents && let Err(e) = queue.drain_wakes(&shared.queue_name).await {
        tracing::warn!(error = %e, "could not wake parent jobs yet; the reaper will");
    }
    Ok(out)
}

/// What a step run leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// The job is done.
    Succeeded,
    /// The job is dead.
    Failed,
    /// The same step runs again later.
    Retry,
    /// The next step runs later.
    Continue,
    /// The same step runs again when the budget allows.
    WaitingBudget,
}

impl Next {
    /// The outcome name `finish.lua` takes.
    fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Retry => "retry",
            Self::Continue => "continue",
            Self::WaitingBudget => "waiting_budget",
        }
    }

    /// The terminal state this leads to, if any (a pending cancel can still turn `Retry` and
    /// `Continue` into `Cancelled`, inside the script).
    fn terminal(self) -> Option<JobState> {
        match self {
            Self::Succeeded => Some(JobState::Succeeded),
            Self::Failed => Some(JobState::Failed),
            Self::Retry | Self::Continue | Self::WaitingBudget => None,
        }
    }
}

/// How a step run ends, as the finish script takes it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Finish {
    pub(crate) next: Next,
    pub(crate) delay: Duration,
    pub(crate) text: String,
    pub(crate) attempts_delta: i64,
    pub(crate) step: String,
    /// The vendor's code and message when it is why the job failed (for the event).
    pub(crate) vendor_failure: Option<VendorFailure>,
}

impl Finish {
    /// The text (error or result) is stored, put in the event and logged, so the query values
    /// of any URL in it (presigned signatures, vendor tokens) are redacted here, once.
    fn new(next: Next, delay: Duration, text: String) -> Self {
        Self {
            next,
            delay,
            text: creel_core::redact::redact_urls(&text),
            attempts_delta: 0,
            step: String::new(),
            vendor_failure: None,
        }
    }

    /// The job fails for good (undecodable payload, attempts spent by lost leases).
    pub(crate) fn failed(reason: String) -> Self {
        Self::new(Next::Failed, Duration::ZERO, reason)
    }

    /// The step returned normally.
    pub(crate) fn from_outcome(outcome: &StepOutcome) -> Self {
        match outcome {
            StepOutcome::Done(v) => Self::new(Next::Succeeded, Duration::ZERO, v.to_string()),
            StepOutcome::Continue { step, after } => Self {
                step: step.clone(),
                ..Self::new(Next::Continue, *after, String::new())
            },
            StepOutcome::WaitForBudget { reason, after } => Self {
                attempts_delta: -1,
                ..Self::new(Next::WaitingBudget, *after, reason.clone())
            },
        }
    }

    /// The step failed: the error's class and the kind's retry policy decide what is next.
    pub(crate) fn from_error(
        err: &(dyn std::error::Error + 'static),
        ctx: &JobContext,
        queue: &Queue,
        unit_random: f64,
    ) -> Self {
        let policy = queue.config().retry_policy(&ctx.kind);
        match err.downcast_ref::<JobError>() {
            Some(JobError::Permanent(reason)) => Self::failed(reason.clone()),
            Some(JobError::Vendor(failure)) => Self {
                vendor_failure: Some(VendorFailure {
                    message: creel_core::redact::redact_urls(&failure.message),
                    ..failure.clone()
                }),
                ..Self::failed(failure.to_string())
            },
            Some(JobError::RetryAfter { after, reason }) => Self {
                attempts_delta: -1,
                ..Self::new(Next::Retry, *after, reason.clone())
            },
            Some(JobError::Retryable(reason)) => {
                Self::retry_or_fail(policy, ctx.attempt, reason, unit_random)
            }
            None => Self::retry_or_fail(policy, ctx.attempt, &err.to_string(), unit_random),
        }
    }

    fn retry_or_fail(
        policy: &creel_core::RetryPolicy,
        attempt: u32,
        reason: &str,
        unit_random: f64,
    ) -> Self {
        if policy.allows_another(attempt) {
            Self::new(
                Next::Retry,
                policy.delay_after(attempt, unit_random),
                reason.to_owned(),
            )
        } else {
            Self::failed(format!(
                "attempts exhausted ({attempt} of {}): {reason}",
                policy.max_attempts
            ))
        }
    }
}

impl WorkerShared {
    /// Records how a step run ended. Retries while Redis is unreachable (up to about the lease
    /// time: after that the lease is gone anyway and the reaper gives the job to another worker).
    pub(crate) async fn finish(&self, ctx: &JobContext, finish: Finish) {
        let cfg = self.queue.config();
        let subject = EventSubject::of_context(ctx);
        let event = finish.next.terminal().map_or_else(String::new, |state| {
            let (result, error) = match state {
                JobState::Succeeded => (serde_json::from_str(&finish.text).ok(), None),
                _ => (None, Some(finish.text.clone())),
            };
            subject.event_json(
                cfg,
                state,
                ctx.attempt,
                result,
                error,
                finish.vendor_failure.clone(),
            )
        });
        let cancel_event = if finish.next.terminal().is_none() {
            subject.event_json(
                cfg,
                JobState::Cancelled,
                ctx.attempt,
                None,
                Some("cancelled at a step boundary".into()),
                None,
            )
        } else {
            String::new()
        };
        let deadline = tokio::time::Instant::now() + cfg.lease;
        let mut backoff =
            creel_core::Backoff::new(Duration::from_millis(50), Duration::from_secs(2));
        loop {
            match self.run_finish(ctx, &finish, &event, &cancel_event).await {
                Ok((1, state)) => {
                    if state == "failed" {
                        // Metrics count this event (creel.job.dead_lettered).
                        tracing::info!(
                            name: "dead letter",
                            job = %ctx.id,
                            messaging.destination.name = %self.queue_name,
                            creel.job.kind = %ctx.kind,
                            "job failed for good"
                        );
                    }
                    tracing::debug!(job = %ctx.id, %state, "step finished");
                    break;
                }
                Ok((_, state)) => {
                    tracing::warn!(job = %ctx.id, %state, "lease lost before the step finished; its outcome is dropped");
                    break;
                }
                Err(e) if tokio::time::Instant::now() < deadline => {
                    tracing::warn!(job = %ctx.id, error = %e, "could not record the step outcome; retrying");
                    tokio::time::sleep(backoff.next_wait()).await;
                }
                Err(e) => {
                    tracing::error!(job = %ctx.id, error = %e, "gave up recording the step outcome; the lease will expire and the step run again");
                    break;
                }
            }
        }
        self.forget(ctx.id.as_str(), &ctx.token);
    }

    async fn run_finish(
        &self,
        ctx: &JobContext,
        f: &Finish,
        event: &str,
        cancel_event: &str,
    ) -> Result<(i64, String), QueueError> {
        let (done, answer) = oneshot::channel();
        let request = FinishRequest {
            args: vec![
                ctx.id.to_string(),
                ctx.token.clone(),
                f.next.as_str().to_owned(),
                u64::try_from(f.delay.as_millis())
                    .unwrap_or(u64::MAX)
                    .to_string(),
                f.text.clone(),
                event.to_owned(),
                cancel_event.to_owned(),
                f.attempts_delta.to_string(),
                f.step.clone(),
            ],
            done,
        };
        match self.finisher.send(request) {
            Ok(()) => answer.await.unwrap_or_else(|_| Err(QueueError::Closed)),
            // The batcher is gone (the worker is closing): record this one on its own.
            Err(mpsc::error::SendError(request)) => {
                let mut reply = finish_batch(self, vec![request.args], 0).await?;
                reply.pop().ok_or(QueueError::Closed)
            }
        }
    }

    /// Adds what the prelude's `lease_jobs` takes to lease up to `max` jobs: max, lease time,
    /// a token prefix unique to the call (this worker's id and the call's number: records name
    /// their worker only through it, see `record::worker_of_token`), and how many due
    /// scheduled jobs to promote first.
    pub(crate) fn lease_args(&self, inv: &mut redis::ScriptInvocation<'_>, max: usize) {
        let call = self.lease_calls.fetch_add(1, Ordering::Relaxed);
        inv.arg(max)
            .arg(u64::try_from(self.queue.config().lease.as_millis()).unwrap_or(u64::MAX))
            .arg(format!("{}:{call}", self.worker_id))
            .arg(max.max(100));
    }

    /// How many jobs a call recording `finished` outcomes may lease: one per slot it frees, as
    /// long as the worker holds no more than its prefetch of leases no step has started.
    fn room_for(&self, finished: usize) -> usize {
        if self.closing.load(Ordering::Acquire) {
            return 0;
        }
        let unstarted = self.lock_leases().values().filter(|l| !l.started).count();
        finished.min(self.prefetch().saturating_sub(unstarted))
    }

    /// How many leased jobs this worker may hold unstarted, and so lease in one fetch: its
    /// fetch batch, raised while its steps are short (`prefetch.rs`).
    pub(crate) fn prefetch(&self) -> usize {
        let cfg = self.queue.config();
        crate::prefetch::prefetch(
            cfg.fetch_batch,
            cfg.prefetch_max,
            cfg.prefetch_wait,
            self.step_times.mean(),
        )
    }

    /// Holds the leases of a lease reply before anything else can see them.
    pub(crate) fn hold_leased(&self, reply: &crate::lease_reply::LeaseReply) {
        let mut leases = self.lock_leases();
        for job in &reply.jobs {
            leases.insert(
                job.id.clone(),
                HeldLease {
                    token: job.token.clone(),
                    started: false,
                },
            );
        }
    }

    pub(crate) fn mark_started(&self, id: &str) {
        if let Some(l) = self.lock_leases().get_mut(id) {
            l.started = true;
        }
    }

    /// Drops the lease `token` on `id`; a newer lease on the same job (a retry leased again
    /// before this answer came back) stays.
    pub(crate) fn forget(&self, id: &str, token: &str) {
        let mut leases = self.lock_leases();
        if leases.get(id).is_some_and(|l| l.token == token) {
            leases.remove(id);
        }
    }

    pub(crate) fn snapshot(&self) -> Vec<(String, HeldLease)> {
        self.lock_leases()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    fn lock_leases(&self) -> std::sync::MutexGuard<'_, HashMap<String, HeldLease>> {
        // A panic while holding this lock cannot leave the map inconsistent: recover it.
        self.leases
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Gives back every lease whose step has not started, and deregisters the worker.
    pub(crate) async fn close(&self) -> Result<(), QueueError> {
        // From here on, recorded outcomes lease nothing; a call that already does has held its
        // leases once the gate is ours.
        self.closing.store(true, Ordering::Release);
        drop(self.lease_gate.lock().await);
        let cfg = self.queue.config();
        let unstarted: Vec<(String, HeldLease)> = self
            .snapshot()
            .into_iter()
            .filter(|(_, l)| !l.started)
            .collect();
        let mut conn = self.queue.conn.clone();
        for chunk in unstarted.chunks(256) {
            let mut inv = self.queue.scripts.release.prepare_invoke();
            inv.key(cfg.queue_base(&self.queue_name));
            for (id, l) in chunk {
                inv.arg(id).arg(&l.token);
            }
            let n: u64 = inv.invoke_async(&mut conn).await?;
            tracing::debug!(released = n, "gave back unstarted leases");
            for (id, l) in chunk {
                self.forget(id, &l.token);
            }
        }
        let _: () =
            redis::AsyncCommands::zrem(&mut conn, cfg.workers_key(), &self.worker_id).await?;
        Ok(())
    }
}
