//! The fetch loop behind the backend's task stream: take the jobs the outcome recorder leased
//! into freed slots, else lease a batch; decode each job (sending the undecodable ones to dead
//! without ever reaching a handler); and wait for a wake-up, the next scheduled job or the idle
//! poll when the queue is empty. Redis errors are logged and retried with backoff: they never
//! end the worker.

use std::collections::VecDeque;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use apalis_core::task::Task;
use apalis_core::task::builder::TaskBuilder;
use apalis_core::task::task_id::TaskId;
use creel_core::JobId;
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, watch};

use crate::JobContext;
use crate::lease_reply::LeaseReply;
use crate::worker::{Finish, WorkerShared};

pub(crate) struct Fetcher<Args> {
    shared: Arc<WorkerShared>,
    wake: watch::Receiver<u64>,
    /// Replies of the fetch script that the outcome recorder leased (already held).
    leased: mpsc::UnboundedReceiver<LeaseReply>,
    buffer: VecDeque<Task<Args>>,
    _args: PhantomData<fn() -> Args>,
}

enum Fetched {
    Jobs,
    Empty { wait: Option<Duration> },
}

impl<Args: DeserializeOwned + Send + 'static> Fetcher<Args> {
    pub(crate) fn new(
        shared: Arc<WorkerShared>,
        wake: watch::Receiver<u64>,
        leased: mpsc::UnboundedReceiver<LeaseReply>,
    ) -> Self {
        Self {
            shared,
            wake,
            leased,
            buffer: VecDeque::new(),
            _args: PhantomData,
        }
    }

    /// The next task to run; waits as long as it takes.
    pub(crate) async fn next(&mut self) -> Task<Args> {
        let mut backoff =
            creel_core::Backoff::new(Duration::from_millis(50), Duration::from_secs(5));
        loop {
            if let Some(task) = self.buffer.pop_front() {
                if let Some(ctx) = task.data().get::<JobContext>() {
                    self.shared.mark_started(ctx.id.as_str());
                }
                return task;
            }
            // Jobs the outcome recorder leased (it already holds them).
            if let Ok(reply) = self.leased.try_recv() {
                self.take(reply).await;
                continue;
            }
            self.wake.borrow_and_update();
            match self.fetch().await {
                Ok(Fetched::Jobs) => backoff.reset(),
                Ok(Fetched::Empty { wait }) => {
                    backoff.reset();
                    let idle = self.shared.queue.config().idle_poll;
                    let wait = wait.map_or(idle, |w| w.min(idle));
                    if !wait.is_zero() {
                        tokio::select! {
                            _ = self.wake.changed() => {}
                            () = tokio::time::sleep(wait) => {}
                            Some(reply) = self.leased.recv() => {
                                self.take(reply).await;
                            }
                        }
                    }
                }
                Err(e) => {
                    let wait = backoff.next_wait();
                    tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "fetch failed; retrying");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    async fn fetch(&mut self) -> redis::RedisResult<Fetched> {
        let shared = Arc::clone(&self.shared);
        let cfg = shared.queue.config();
        let batch = shared.prefetch();
        let mut conn = shared.queue.conn.clone();
        let mut inv = shared.queue.scripts.fetch.prepare_invoke();
        inv.key(cfg.queue_base(&shared.queue_name));
        shared.lease_args(&mut inv, batch);
        let reply = LeaseReply::decode(inv.invoke_async(&mut conn).await?)?;
        shared.hold_leased(&reply);
        Ok(self.take(reply).await)
    }

    /// Puts the jobs of a lease reply, whose leases its caller already holds, into the buffer.
    /// Rows that do not decode are logged and left to expire and be reaped.
    async fn take(&mut self, reply: LeaseReply) -> Fetched {
        let shared = Arc::clone(&self.shared);
        let cfg = shared.queue.config();
        for row in &reply.bad_rows {
            tracing::error!(%row, "leased a job whose fields do not decode; leaving it to expire");
        }
        let got = reply.rows();
        let wait_ms = reply.wait_ms;
        for job in reply.jobs {
            let attempt: u32 = job.attempts.parse().unwrap_or(u32::MAX);
            let Ok(id) = job.id.parse::<JobId>() else {
                tracing::error!(id = %job.id, "leased a job whose id is not a ULID; leaving it to expire");
                continue;
            };
            let non_empty = |s: String| (!s.is_empty()).then_some(s);
            let ctx = JobContext {
                id: id.clone(),
                queue: shared.queue_name.clone(),
                kind: job.kind,
                account: non_empty(job.account),
                attempt,
                step: non_empty(job.step),
                runs: job.runs.parse().unwrap_or(1),
                traceparent: non_empty(job.traceparent),
                tracestate: non_empty(job.tracestate),
                due_at_ms: job.run_at.parse().ok(),
                checkpoint: non_empty(job.checkpoint).and_then(|t| serde_json::from_str(&t).ok()),
                owner: non_empty(job.created_by),
                token: job.token,
            };
            let policy = cfg.retry_policy(&ctx.kind);
            // A job whose leases kept expiring (it kills or stalls its workers) is not retried
            // forever; a lost lease is not a failed attempt, so it has a budget of its own.
            let lease_losses: u32 = job.lease_losses.parse().unwrap_or(0);
            if lease_losses > policy.max_lease_losses {
                let reason = format!(
                    "lease lost {lease_losses} times (max_lease_losses {}): the worker running it died or stalled",
                    policy.max_lease_losses
                );
                shared.finish(&ctx, Finish::failed(reason)).await;
                continue;
            }
            match decode::<Args>(&ctx.kind, &job.payload) {
                Ok(args) => {
                    let task = TaskBuilder::new(args)
                        .task_id(TaskId::from_string(id.to_string()))
                        .attempt(attempt.saturating_sub(1) as usize)
                        .data(ctx)
                        .build();
                    self.buffer.push_back(task);
                }
                Err(reason) => {
                    tracing::warn!(job = %id, %reason, "payload does not decode; sending the job to dead");
                    shared.finish(&ctx, Finish::failed(reason)).await;
                }
            }
        }
        if got > 0 {
            return Fetched::Jobs;
        }
        let wait = match wait_ms {
            // -2: paused, -1: nothing scheduled; wait for a wake-up or the idle poll
            ..0 => None,
            ms => Some(Duration::from_millis(u64::try_from(ms).unwrap_or(0))),
        };
        Fetched::Empty { wait }
    }
}

/// Decodes the job into the worker's argument type from `{"kind": …, "payload": …}`, so one
/// queue can carry several kinds through a `#[serde(tag = "kind", content = "payload")]` enum.
fn decode<Args: DeserializeOwned>(kind: &str, payload: &str) -> Result<Args, String> {
    let payload: serde_json::Value = serde_json::from_str(payload)
        .map_err(|e| format!("payload of kind {kind:?} is not JSON: {e}"))?;
    let envelope = serde_json::json!({ "kind": kind, "payload": payload });
    serde_json::from_value(envelope).map_err(|e| {
        format!(
            "payload of kind {kind:?} does not decode as {}: {e}",
            std::any::type_name::<Args>()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(tag = "kind", content = "payload", rename_all = "snake_case")]
    enum Jobs {
        Download { url: String },
    }

    #[test]
    fn decodes_a_tagged_enum_and_names_what_is_wrong() {
        assert_eq!(
            decode::<Jobs>("download", r#"{"url":"http://x"}"#),
            Ok(Jobs::Download {
                url: "http://x".into()
            })
        );
        let e = decode::<Jobs>("download", r#"{"uri":"x"}"#).expect_err("wrong field");
        assert!(e.contains("url"), "{e}");
        let e = decode::<Jobs>("download", "{not json").expect_err("not json");
        assert!(e.contains("not JSON"), "{e}");
        assert!(decode::<Jobs>("teleport", "{}").is_err());
    }
}
