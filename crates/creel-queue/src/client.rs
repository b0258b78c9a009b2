//! [`Queue`]: the producer and operator side of the queue: enqueue (with idempotency keys),
//! job records, listings and counts, cancel, requeue, pause/resume, retention and events.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use creel_core::{Event, JobId, JobRequest, JobState};
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use serde::Serialize;

use crate::events::{EventSubject, StreamEvent};
use crate::scripts::Scripts;
use crate::trace::StoredContext;
use crate::{JobRecord, QueueConfig, QueueError, connect};

/// Jobs per enqueue script call: keeps every call short however large the batch.
const ENQUEUE_CHUNK: usize = 200;

/// A handle on the queue in Redis. Cheap to clone; all clones share one connection.
#[derive(Clone)]
pub struct Queue {
    pub(crate) cfg: Arc<QueueConfig>,
    pub(crate) conn: ConnectionManager,
    pub(crate) scripts: Arc<Scripts>,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("prefix", &self.cfg.prefix)
            .finish_non_exhaustive()
    }
}

/// The answer to an enqueue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Enqueued {
    /// The job's id: a new one, or the first job's for a repeated idempotency key.
    pub id: JobId,
    /// `false` when the idempotency key (or id) already named a job.
    pub created: bool,
}

/// What a cancel did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CancelOutcome {
    /// The job was not running and is now cancelled.
    Cancelled,
    /// The job is running; it stops at its next step boundary.
    Requested,
}

/// Job counts of one queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct QueueCounts {
    /// The queue.
    pub queue: String,
    /// Jobs per state name (every state present, zeros included).
    pub counts: std::collections::BTreeMap<String, u64>,
    /// How long the oldest ready job has waited.
    pub oldest_ready_ms: Option<u64>,
    /// Whether the queue is paused.
    pub paused: bool,
}

impl QueueCounts {
    /// The count for one state.
    #[must_use]
    pub fn get(&self, state: JobState) -> u64 {
        self.counts.get(state.as_str()).copied().unwrap_or(0)
    }
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Page {
    /// The jobs, oldest state change first.
    pub jobs: Vec<JobRecord>,
    /// Pass this to get the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// A registered worker process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkerInfo {
    /// Its identity (unique per process start).
    pub id: String,
    /// Its last heartbeat.
    pub last_seen: DateTime<Utc>,
}

impl Queue {
    /// Connects to Redis with the configured timeouts.
    pub async fn connect(cfg: QueueConfig) -> Result<Self, QueueError> {
        let conn = connect::connection(&cfg).await?;
        Ok(Self {
            cfg: Arc::new(cfg),
            conn,
            scripts: Arc::new(Scripts::new()),
        })
    }

    /// Checks that Redis answers.
    pub async fn ping(&self) -> Result<(), QueueError> {
        let mut conn = self.conn.clone();
        let _: String = redis::cmd("PING").query_async(&mut conn).await?;
        Ok(())
    }

    /// This handle with [`QueueConfig::fetch_batch`] set to `n` (at least 1), on the same
    /// connection: a worker that fetches no more jobs at once than it can start leaves the
    /// rest ready for other pods (what an autoscaled fleet needs).
    #[must_use]
    pub fn with_fetch_batch(&self, n: usize) -> Self {
        let mut cfg = (*self.cfg).clone();
        cfg.fetch_batch = n.max(1);
        Self {
            cfg: Arc::new(cfg),
            conn: self.conn.clone(),
            scripts: Arc::clone(&self.scripts),
        }
    }

    /// The configuration this handle was made with.
    #[must_use]
    pub fn config(&self) -> &QueueConfig {
        &self.cfg
    }

    /// Waits until `wait_replicas` replicas have every write this connection sent (nothing to
    /// do when it is 0).
    ///
    /// # Errors
    /// Redis failed, or fewer replicas acknowledged within `wait_timeout`
    /// ([`QueueError::NotReplicated`]).
    pub(crate) async fn wait_for_replicas(
        &self,
        conn: &mut redis::aio::ConnectionManager,
    ) -> Result<(), QueueError> {
        let wanted = self.cfg.wait_replicas;
        if wanted == 0 {
            return Ok(());
        }
        let timeout_ms = u64::try_from(self.cfg.wait_timeout.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        let acked: u32 = redis::cmd("WAIT")
            .arg(wanted)
            .arg(timeout_ms)
            .query_async(conn)
            .await?;
        if acked < wanted {
            return Err(QueueError::NotReplicated { wanted, acked });
        }
        Ok(())
    }

    /// Enqueues one job. A repeated idempotency key returns the first job's id.
    pub async fn enqueue(&self, request: JobRequest) -> Result<Enqueued, QueueError> {
        let mut out = self.enqueue_batch(vec![request]).await?;
        out.pop().ok_or_else(|| QueueError::Corrupt {
            id: String::new(),
            reason: "enqueue returned no id".into(),
        })
    }

    /// Enqueues many jobs. Every request is validated first: if one is invalid, none is written.
    pub async fn enqueue_batch(
        &self,
        requests: Vec<JobRequest>,
    ) -> Result<Vec<Enqueued>, QueueError> {
        for r in &requests {
            r.validate()?;
        }
        let ttl = self.cfg.idempotency_ttl.map_or(0, |d| d.as_secs().max(1));
        let mut out = Vec::with_capacity(requests.len());
        let mut conn = self.conn.clone();
        // Keep the caller's order: consecutive requests for the same queue share a call.
        let mut start = 0;
        while start < requests.len() {
            let queue = &requests[start].queue;
            let mut end = start;
            while end < requests.len()
                && end - start < ENQUEUE_CHUNK
                && &requests[end].queue == queue
            {
                end += 1;
            }
            let mut inv = self.scripts.enqueue.prepare_invoke();
            inv.arg(&self.cfg.prefix).arg(queue).arg(ttl);
            let ids = JobId::generate_batch(end - start);
            // One `send` span per run of requests with the same given context (a batch, in
            // the messaging conventions' terms); each job carries that span's context (with an
            // OTel layer), or the caller's own context as given. The spans close when Redis
            // has answered, so their duration is the write's.
            let mut sends: Vec<crate::trace::BatchSend> = Vec::new();
            for (r, id) in requests[start..end].iter().zip(&ids) {
                let given = StoredContext {
                    traceparent: r.traceparent.clone(),
                    tracestate: r.tracestate.clone(),
                };
                let send = match sends.last_mut() {
                    Some(send) if send.given == given => send,
                    _ => {
                        sends.push(crate::trace::BatchSend::open(queue, given));
                        sends
                            .last_mut()
                            .unwrap_or_else(|| unreachable!("just pushed"))
                    }
                };
                send.add(id.as_str());
                let stored = &send.stored;
                let run_at = r.run_at.map_or(0, |t| t.timestamp_millis().max(0));
                inv.arg(id.as_str())
                    .arg(r.idempotency_slot().unwrap_or_default())
                    .arg(run_at)
                    .arg(&r.kind)
                    .arg(r.account.as_deref().unwrap_or(""))
                    .arg(r.payload.to_string())
                    .arg(stored.traceparent.as_deref().unwrap_or(""))
                    .arg(r.created_by.as_deref().unwrap_or(""))
                    .arg(r.webhook.as_deref().unwrap_or(""))
                    .arg(r.idempotency_key.as_deref().unwrap_or(""))
                    .arg(stored.tracestate.as_deref().unwrap_or(""));
            }
            let reply: Vec<(String, i64)> = inv.invoke_async(&mut conn).await?;
            drop(sends);
            for (id, created) in reply {
                let id = id.parse().map_err(|e| QueueError::Corrupt {
                    id: id.clone(),
                    reason: format!("{e}"),
                })?;
                out.push(Enqueued {
                    id,
                    created: created == 1,
                });
            }
            start = end;
        }
        self.wait_for_replicas(&mut conn).await?;
        Ok(out)
    }

    /// The record of one job, or `None` if there is no such job (or it was trimmed).
    pub async fn get(&self, id: &JobId) -> Result<Option<JobRecord>, QueueError> {
        let mut conn = self.conn.clone();
        let h: HashMap<String, String> = conn.hgetall(self.cfg.job_key(id.as_str())).await?;
        JobRecord::from_hash(h)
    }

    async fn require(&self, id: &JobId) -> Result<JobRecord, QueueError> {
        self.get(id)
            .await?
            .ok_or_else(|| QueueError::NotFound(id.clone()))
    }

    /// One page of the jobs of a queue in a state, in the order they entered it.
    pub async fn list(
        &self,
        queue: &str,
        state: JobState,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page, QueueError> {
        let (after_score, after_id) = match cursor.and_then(|c| c.split_once(':')) {
            Some((s, id)) => (s.parse::<i64>().unwrap_or(-1), id.to_owned()),
            None => (-1, String::new()),
        };
        let limit = limit.clamp(1, 1000);
        let mut conn = self.conn.clone();
        let reply: Vec<String> = self
            .scripts
            .list
            .prepare_invoke()
            .arg(&self.cfg.prefix)
            .arg(queue)
            .arg(state.as_str())
            .arg(after_score)
            .arg(after_id)
            .arg(limit)
            .invoke_async(&mut conn)
            .await?;
        let mut it = reply.into_iter();
        let next_score = it.next().unwrap_or_default();
        let next_id = it.next().unwrap_or_default();
        let ids: Vec<String> = it.collect();
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.hgetall(self.cfg.job_key(id));
        }
        // An empty pipeline is an error in redis-rs ("empty command"), and an empty page is not.
        let hashes: Vec<HashMap<String, String>> = if ids.is_empty() {
            Vec::new()
        } else {
            pipe.query_async(&mut conn).await?
        };
        let mut jobs = Vec::with_capacity(hashes.len());
        for h in hashes {
            if let Some(rec) = JobRecord::from_hash(h)? {
                jobs.push(rec);
            }
        }
        let next_cursor = (!next_score.is_empty()).then(|| format!("{next_score}:{next_id}"));
        Ok(Page { jobs, next_cursor })
    }

    /// The queues that have ever had a job.
    pub async fn queues(&self) -> Result<Vec<String>, QueueError> {
        let mut conn = self.conn.clone();
        let mut names: Vec<String> = conn.smembers(self.cfg.queues_key()).await?;
        names.sort();
        Ok(names)
    }

    /// Counts per state, the age of the oldest ready job, and whether the queue is paused.
    pub async fn counts(&self, queue: &str) -> Result<QueueCounts, QueueError> {
        let mut conn = self.conn.clone();
        let mut pipe = redis::pipe();
        for s in JobState::ALL {
            pipe.zcard(self.cfg.queue_key(queue, &format!("state:{s}")));
        }
        pipe.zrange_withscores(self.cfg.queue_key(queue, "state:ready"), 0, 0);
        pipe.exists(self.cfg.queue_key(queue, "paused"));
        pipe.cmd("TIME");
        type Reply = (Vec<u64>, Vec<(String, i64)>, bool, (i64, i64));
        let (cards, oldest, paused, time): Reply = {
            let raw: Vec<redis::Value> = pipe.query_async(&mut conn).await?;
            let n = JobState::ALL.len();
            let cards = raw[..n]
                .iter()
                .map(redis::from_redis_value_ref::<u64>)
                .collect::<Result<Vec<_>, _>>()?;
            (
                cards,
                redis::from_redis_value_ref(&raw[n])?,
                redis::from_redis_value_ref(&raw[n + 1])?,
                redis::from_redis_value_ref(&raw[n + 2])?,
            )
        };
        let now_ms = time.0 * 1000 + time.1 / 1000;
        Ok(QueueCounts {
            queue: queue.to_owned(),
            counts: JobState::ALL
                .into_iter()
                .map(|s| s.as_str().to_owned())
                .zip(cards)
                .collect(),
            oldest_ready_ms: oldest
                .first()
                .map(|(_, s)| u64::try_from(now_ms - s).unwrap_or(0)),
            paused,
        })
    }

    /// Cancels a job: at once if it is not running, at its next step boundary if it is. Its
    /// child jobs ([`Queue::link_child`]) are cancelled too, and theirs.
    pub async fn cancel(&self, id: &JobId) -> Result<CancelOutcome, QueueError> {
        let outcome = self.cancel_one(id).await?;
        let mut pending = self.children(id).await?;
        while let Some(child) = pending.pop() {
            match self.cancel_one(&child).await {
                Ok(_) | Err(QueueError::WrongState { .. } | QueueError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
            pending.extend(self.children(&child).await?);
        }
        Ok(outcome)
    }

    /// Records `child` as a child of `parent`: cancelling the parent cancels the child, and
    /// the child's end (succeeded, failed or cancelled) wakes the parent: a scheduled parent
    /// becomes due, a running one's next step is due at once. A child that already ended
    /// wakes the parent now. Idempotent.
    ///
    /// # Errors
    /// Redis failed.
    pub async fn link_child(&self, parent: &JobId, child: &JobId) -> Result<(), QueueError> {
        let mut conn = self.conn.clone();
        let _: i64 = self
            .scripts
            .link
            .prepare_invoke()
            .arg(&self.cfg.prefix)
            .arg("")
            .arg(parent.as_str())
            .arg(child.as_str())
            .invoke_async(&mut conn)
            .await?;
        Ok(())
    }

    /// The children linked to `parent`.
    ///
    /// # Errors
    /// Redis failed.
    pub async fn children(&self, parent: &JobId) -> Result<Vec<JobId>, QueueError> {
        let mut conn = self.conn.clone();
        let ids: Vec<String> = redis::cmd("SMEMBERS")
            .arg(self.children_key(parent))
            .query_async(&mut conn)
            .await?;
        Ok(ids.into_iter().filter_map(|i| i.parse().ok()).collect())
    }

    /// Whether a cancellation of the job is pending (a running step may stop early for it).
    ///
    /// # Errors
    /// Redis failed.
    pub async fn cancel_requested(&self, id: &JobId) -> Result<bool, QueueError> {
        let mut conn = self.conn.clone();
        let flag: Option<String> = redis::cmd("HGET")
            .arg(self.cfg.job_key(id.as_str()))
            .arg("cancel_requested")
            .query_async(&mut conn)
            .await?;
        Ok(flag.as_deref() == Some("1"))
    }

    fn children_key(&self, parent: &JobId) -> String {
        format!("{}:children:{}", self.cfg.prefix, parent.as_str())
    }

    async fn cancel_one(&self, id: &JobId) -> Result<CancelOutcome, QueueError> {
        let rec = self.require(id).await?;
        let subject = EventSubject::of_record(&rec);
        let event = subject.event_json(
            &self.cfg,
            JobState::Cancelled,
            rec.attempts,
            None,
            Some("cancelled".into()),
            None,
        );
        let mut conn = self.conn.clone();
        let (outcome, state): (String, String) = self
            .scripts
            .cancel
            .prepare_invoke()
            .arg(&self.cfg.prefix)
            .arg("")
            .arg(id.as_str())
            .arg(event)
            .arg(self.cfg.events_max_len)
            .invoke_async(&mut conn)
            .await?;
        match outcome.as_str() {
            "cancelled" => Ok(CancelOutcome::Cancelled),
            "requested" => Ok(CancelOutcome::Requested),
            "missing" => Err(QueueError::NotFound(id.clone())),
            _ => Err(QueueError::WrongState {
                id: id.clone(),
                state: state.parse().unwrap_or(JobState::Succeeded),
                operation: "cancel",
            }),
        }
    }

    /// Requeues a failed (dead) or cancelled job as a new run with fresh attempts.
    pub async fn requeue(&self, id: &JobId) -> Result<(), QueueError> {
        let mut conn = self.conn.clone();
        let (outcome, state): (String, String) = self
            .scripts
            .requeue
            .prepare_invoke()
            .arg(&self.cfg.prefix)
            .arg("")
            .arg(id.as_str())
            .invoke_async(&mut conn)
            .await?;
        match outcome.as_str() {
            "requeued" => Ok(()),
            "missing" => Err(QueueError::NotFound(id.clone())),
            _ => Err(QueueError::WrongState {
                id: id.clone(),
                state: state.parse().unwrap_or(JobState::Running),
                operation: "requeue",
            }),
        }
    }

    /// Records progress reported by a running step (shown in the job record). Returns `false`
    /// if the step no longer holds the job's lease.
    pub async fn report_progress(
        &self,
        ctx: &crate::JobContext,
        progress: &serde_json::Value,
    ) -> Result<bool, QueueError> {
        self.set_step_field(ctx, "progress", progress).await
    }

    /// Saves what a later run of this step needs to resume (it arrives as
    /// [`crate::JobContext::checkpoint`]). Returns `false` if the step no longer holds the lease.
    pub async fn save_checkpoint(
        &self,
        ctx: &crate::JobContext,
        checkpoint: &serde_json::Value,
    ) -> Result<bool, QueueError> {
        self.set_step_field(ctx, "checkpoint", checkpoint).await
    }

    async fn set_step_field(
        &self,
        ctx: &crate::JobContext,
        field: &'static str,
        value: &serde_json::Value,
    ) -> Result<bool, QueueError> {
        let mut conn = self.conn.clone();
        let n: i64 = self
            .scripts
            .progress
            .prepare_invoke()
            .arg(&self.cfg.prefix)
            .arg("")
            .arg(ctx.id.as_str())
            .arg(&ctx.token)
            .arg(field)
            .arg(value.to_string())
            .invoke_async(&mut conn)
            .await?;
        Ok(n == 1)
    }

    /// Records how the job's webhook delivery went (shown in the job record).
    ///
    /// # Errors
    /// Redis failed.
    pub async fn record_webhook_delivery(
        &self,
        id: &JobId,
        delivery: &serde_json::Value,
    ) -> Result<(), QueueError> {
        self.set_record_field(id, "webhook_delivery", delivery)
            .await
    }

    /// Records what was tidied after the job was cancelled: an aborted upload, a vendor task
    /// left running (shown in the job record as `cleanup`).
    ///
    /// # Errors
    /// Redis failed.
    pub async fn record_cleanup(
        &self,
        id: &JobId,
        cleanup: &serde_json::Value,
    ) -> Result<(), QueueError> {
        self.set_record_field(id, "cleanup", cleanup).await
    }

    /// Sets one JSON field of a job record, only on a record that still exists: never
    /// resurrect a trimmed job as a stub.
    async fn set_record_field(
        &self,
        id: &JobId,
        field: &'static str,
        value: &serde_json::Value,
    ) -> Result<(), QueueError> {
        let mut conn = self.conn.clone();
        let _: () = redis::cmd("EVAL")
            .arg("if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end")
            .arg(1)
            .arg(self.cfg.job_key(id.as_str()))
            .arg(field)
            .arg(value.to_string())
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    /// Stops workers from starting new jobs of this queue (running steps finish).
    pub async fn pause(&self, queue: &str) -> Result<(), QueueError> {
        let mut conn = self.conn.clone();
        let _: () = conn.set(self.cfg.queue_key(queue, "paused"), 1).await?;
        Ok(())
    }

    /// Lets workers take jobs of this queue again, waking idle ones at once.
    pub async fn resume(&self, queue: &str) -> Result<(), QueueError> {
        let mut conn = self.conn.clone();
        let _: () = redis::pipe()
            .del(self.cfg.queue_key(queue, "paused"))
            .publish(self.cfg.queue_key(queue, "wake"), "1")
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    /// Deletes jobs of a terminal state that finished more than `older_than` ago, in chunks of
    /// `chunk` per script call so Redis is never blocked for long. Returns how many were deleted.
    pub async fn trim(
        &self,
        queue: &str,
        state: JobState,
        older_than: Duration,
        chunk: usize,
    ) -> Result<u64, QueueError> {
        let cutoff = Utc::now().timestamp_millis()
            - i64::try_from(older_than.as_millis()).unwrap_or(i64::MAX);
        let chunk = chunk.max(1);
        let mut conn = self.conn.clone();
        let mut total = 0u64;
        loop {
            let n: u64 = self
                .scripts
                .trim
                .prepare_invoke()
                .arg(&self.cfg.prefix)
                .arg(queue)
                .arg(state.as_str())
                .arg(cutoff)
                .arg(chunk)
                .invoke_async(&mut conn)
                .await?;
            total += n;
            if n < chunk as u64 {
                return Ok(total);
            }
        }
    }

    /// Reads the completion events among the next `count` entries after stream id `after` (`"0"`
    /// from the start); the intake's request events are skipped.
    pub async fn read_events(
        &self,
        after: &str,
        count: usize,
    ) -> Result<Vec<StreamEvent>, QueueError> {
        let mut conn = self.conn.clone();
        let reply: redis::streams::StreamRangeReply = conn
            .xrange_count(self.cfg.events_key(), format!("({after}"), "+", count)
            .await?;
        let mut out = Vec::with_capacity(reply.ids.len());
        for entry in reply.ids {
            let Some(text) = entry.get::<String>("event") else {
                continue;
            };
            match serde_json::from_str(&text) {
                Ok(Event::Job(event)) => out.push(StreamEvent {
                    stream_id: entry.id,
                    event,
                }),
                // The stream intake's answers to requests are not completions.
                Ok(Event::Request(_)) => {}
                Err(e) => {
                    tracing::warn!(stream_id = %entry.id, error = %e, "skipping an event that does not parse")
                }
            }
        }
        Ok(out)
    }

    /// Worker processes with a heartbeat in the last `within`.
    pub async fn workers(&self, within: Duration) -> Result<Vec<WorkerInfo>, QueueError> {
        let mut conn = self.conn.clone();
        let since =
            Utc::now().timestamp_millis() - i64::try_from(within.as_millis()).unwrap_or(i64::MAX);
        let rows: Vec<(String, i64)> = conn
            .zrangebyscore_withscores(self.cfg.workers_key(), since, "+inf")
            .await?;
        Ok(rows
            .into_iter()
            .map(|(id, ms)| WorkerInfo {
                id,
                last_seen: Utc.timestamp_millis_opt(ms).single().unwrap_or_default(),
            })
            .collect())
    }
}
