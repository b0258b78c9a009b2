//! [`Queue`]: the producer and operator side of the queue: enqueue (with idempotency keys),
//! job records, listings and counts, cancel, requeue, pause/resume, retention and events.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use creel_core::{Event, JobId, JobRequest, JobState};
use creel_redis::RedisConnection;
use redis::AsyncCommands;
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
    pub(crate) conn: RedisConnection,
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
    /// How long the job next in line (the oldest ready job, or one whose lease was lost) has
    /// waited since it became ready.
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
    ///
    /// # Errors
    /// Redis is unreachable, or holds creel data in the key layout before Redis Cluster
    /// support ([`QueueError::OldLayout`]: run [`crate::migrate`] first).
    pub async fn connect(cfg: QueueConfig) -> Result<Self, QueueError> {
        let mut conn = connect::connection(&cfg).await?;
        crate::layout::check(&cfg, &mut conn).await?;
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
        self.with_config(|cfg| cfg.fetch_batch = n.max(1))
    }

    /// This handle with [`QueueConfig::prefetch_max`] set to `n`, on the same connection: how
    /// far a worker of short steps may raise its prefetch above its fetch batch.
    #[must_use]
    pub fn with_prefetch_max(&self, n: usize) -> Self {
        self.with_config(|cfg| cfg.prefetch_max = n)
    }

    fn with_config(&self, change: impl FnOnce(&mut QueueConfig)) -> Self {
        let mut cfg = (*self.cfg).clone();
        change(&mut cfg);
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
        conn: &mut RedisConnection,
    ) -> Result<(), QueueError> {
        let wanted = self.cfg.wait_replicas;
        if wanted == 0 {
            return Ok(());
        }
        // Every primary: an enqueue writes the index and idempotency claims on other shards.
        let acked = conn
            .wait_for_replicas(None, wanted, self.cfg.wait_timeout)
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
    ///
    /// Three steps, in this order (ARCHITECTURE.md, "Key layout"): every new id goes into the
    /// job-id index; each idempotency slot is claimed (a slot already claimed names the job
    /// to answer with instead); then each queue's records are written by one script per run
    /// of consecutive requests, which writes no job whose id already has a record.
    pub async fn enqueue_batch(
        &self,
        requests: Vec<JobRequest>,
    ) -> Result<Vec<Enqueued>, QueueError> {
        for r in &requests {
            r.validate()?;
        }
        let fresh = JobId::generate_batch(requests.len());
        let index: Vec<(&str, &str)> = fresh
            .iter()
            .zip(&requests)
            .map(|(id, r)| (id.as_str(), r.queue.as_str()))
            .collect();
        // The queue names go into `P:queues` (where event consumers find each queue's stream)
        // with the index, before any record; a slot claimed for another queue was registered
        // by its claimer.
        let mut queues: Vec<&str> = requests.iter().map(|r| r.queue.as_str()).collect();
        queues.sort_unstable();
        queues.dedup();
        let mut conn = self.conn.clone();
        let mut register = redis::cmd("SADD");
        register.arg(self.cfg.queues_key()).arg(&queues);
        let mut register_conn = conn.clone();
        futures::try_join!(self.index_jobs(&index), async {
            Ok(register.query_async::<()>(&mut register_conn).await?)
        },)?;
        let targets = self.claim_slots(&requests, &fresh).await?;
        // Keep the caller's order: consecutive requests for the same queue share a call. The
        // calls are sent together (pipelined on the connection, in order) rather than each
        // after the last one's answer, so Redis is not left waiting on the round trips.
        let mut chunks = Vec::new();
        let mut start = 0;
        while start < requests.len() {
            let queue = &targets[start].1;
            let mut end = start;
            while end < requests.len() && end - start < ENQUEUE_CHUNK && &targets[end].1 == queue {
                end += 1;
            }
            chunks.push(self.write_records(queue, &requests[start..end], &targets[start..end]));
            start = end;
        }
        let mut out = Vec::with_capacity(requests.len());
        for (id, created) in futures::future::try_join_all(chunks)
            .await?
            .into_iter()
            .flatten()
        {
            let id = id.parse().map_err(|e| QueueError::Corrupt {
                id: id.clone(),
                reason: format!("{e}"),
            })?;
            out.push(Enqueued {
                id,
                created: created == 1,
            });
        }
        self.wait_for_replicas(&mut conn).await?;
        Ok(out)
    }

    /// The (id, queue) each request is written as: its fresh id and own queue, or, for an
    /// idempotency slot an earlier request claimed, that request's job. Fresh ids that went
    /// unused leave the index again.
    async fn claim_slots(
        &self,
        requests: &[JobRequest],
        fresh: &[JobId],
    ) -> Result<Vec<(String, String)>, QueueError> {
        let ttl = self.cfg.idempotency_ttl.map_or(0, |d| d.as_secs().max(1));
        let claims = futures::future::try_join_all(requests.iter().zip(fresh).map(|(r, id)| {
            let slot = r.idempotency_slot();
            async move {
                match slot {
                    Some(slot) => self.claim_slot(&slot, id.as_str(), ttl).await,
                    None => Ok((id.as_str().to_owned(), String::new())),
                }
            }
        }))
        .await?;
        let mut unused = Vec::new();
        let targets = claims
            .into_iter()
            .zip(requests.iter().zip(fresh))
            .map(|((id, queue), (r, mine))| {
                if id != mine.as_str() {
                    unused.push(mine.as_str());
                }
                let queue = if queue.is_empty() {
                    r.queue.clone()
                } else {
                    queue
                };
                (id, queue)
            })
            .collect();
        if !unused.is_empty() {
            self.unindex_jobs(&unused).await?;
        }
        Ok(targets)
    }

    /// Writes one queue's records (the script skips ids that already have one). Returns each
    /// job's id and whether it was created.
    async fn write_records(
        &self,
        queue: &str,
        requests: &[JobRequest],
        targets: &[(String, String)],
    ) -> Result<Vec<(String, i64)>, QueueError> {
        let mut inv = self.scripts.enqueue.prepare_invoke();
        inv.key(self.cfg.queue_base(queue));
        // One `send` span per run of requests with the same given context (a batch, in the
        // messaging conventions' terms); each job carries that span's context (with an OTel
        // layer), or the caller's own context as given. The spans close when Redis has
        // answered, so their duration is the write's.
        let mut sends: Vec<crate::trace::BatchSend> = Vec::new();
        for (r, (id, _)) in requests.iter().zip(targets) {
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
            send.add(id);
            let stored = &send.stored;
            let run_at = r.run_at.map_or(0, |t| t.timestamp_millis().max(0));
            inv.arg(id)
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
        let mut conn = self.conn.clone();
        let reply = inv.invoke_async(&mut conn).await?;
        drop(sends);
        Ok(reply)
    }

    /// The record of one job, or `None` if there is no such job (or it was trimmed).
    pub async fn get(&self, id: &JobId) -> Result<Option<JobRecord>, QueueError> {
        let Some(queue) = self.queue_of(id.as_str()).await? else {
            return Ok(None);
        };
        let mut conn = self.conn.clone();
        let h: HashMap<String, String> =
            conn.hgetall(self.cfg.job_key(&queue, id.as_str())).await?;
        JobRecord::from_hash(h, id.as_str(), &queue)
    }

    /// The queue of a job that exists, or [`QueueError::NotFound`].
    async fn require_queue(&self, id: &JobId) -> Result<String, QueueError> {
        self.queue_of(id.as_str())
            .await?
            .ok_or_else(|| QueueError::NotFound(id.clone()))
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
            .key(self.cfg.queue_base(queue))
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
            pipe.hgetall(self.cfg.job_key(queue, id));
        }
        // An empty pipeline is an error in redis-rs ("empty command"), and an empty page is not.
        let hashes: Vec<HashMap<String, String>> = if ids.is_empty() {
            Vec::new()
        } else {
            pipe.query_async(&mut conn).await?
        };
        let mut jobs = Vec::with_capacity(hashes.len());
        for (h, id) in hashes.into_iter().zip(&ids) {
            if let Some(rec) = JobRecord::from_hash(h, id, queue)? {
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
        // 'ready' and 'running' have no index set: the ready list and the leases set are theirs.
        for s in JobState::ALL {
            match s {
                JobState::Ready => pipe.llen(self.cfg.queue_key(queue, "ready")),
                JobState::Running => pipe.zcard(self.cfg.queue_key(queue, "leases")),
                _ => pipe.zcard(self.cfg.queue_key(queue, &format!("state:{s}"))),
            };
        }
        pipe.lindex(self.cfg.queue_key(queue, "ready"), -1);
        pipe.exists(self.cfg.queue_key(queue, "paused"));
        pipe.cmd("TIME");
        type Reply = (Vec<u64>, Option<String>, bool, (i64, i64));
        let (cards, next, paused, time): Reply = {
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
        // It became ready when it was due (run_at) or, if it went back to the queue later (a
        // promotion, a lost lease, a requeue), at that state change (updated_at).
        let mut ready_since = None;
        if let Some(id) = next {
            let stamps: Vec<Option<i64>> = redis::cmd("HMGET")
                .arg(self.cfg.job_key(queue, &id))
                .arg("run_at")
                .arg("updated_at")
                .query_async(&mut conn)
                .await?;
            ready_since = stamps.into_iter().flatten().max();
        }
        Ok(QueueCounts {
            queue: queue.to_owned(),
            counts: JobState::ALL
                .into_iter()
                .map(|s| s.as_str().to_owned())
                .zip(cards)
                .collect(),
            oldest_ready_ms: ready_since.map(|s| u64::try_from(now_ms - s).unwrap_or(0)),
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
        let parent_queue = self.require_queue(parent).await?;
        let child_queue = self.require_queue(child).await?;
        let mut conn = self.conn.clone();
        // The parent's half first: a cancel of the parent from now on reaches the child.
        let _: i64 = redis::cmd("SADD")
            .arg(self.cfg.children_key(&parent_queue, parent.as_str()))
            .arg(child.as_str())
            .query_async(&mut conn)
            .await?;
        // Then the child's: from now on its end wakes the parent. A child that ended before
        // this puts the parent in its queue's wake-up outbox here instead.
        let state: String = self
            .scripts
            .link
            .prepare_invoke()
            .key(self.cfg.queue_base(&child_queue))
            .arg(child.as_str())
            .arg(parent.as_str())
            .invoke_async(&mut conn)
            .await?;
        if state.parse::<JobState>().is_ok_and(JobState::is_terminal) {
            self.drain_wakes(&child_queue).await?;
        }
        Ok(())
    }

    /// The children linked to `parent`.
    ///
    /// # Errors
    /// Redis failed.
    pub async fn children(&self, parent: &JobId) -> Result<Vec<JobId>, QueueError> {
        let Some(queue) = self.queue_of(parent.as_str()).await? else {
            return Ok(Vec::new());
        };
        let mut conn = self.conn.clone();
        let ids: Vec<String> = redis::cmd("SMEMBERS")
            .arg(self.cfg.children_key(&queue, parent.as_str()))
            .query_async(&mut conn)
            .await?;
        Ok(ids.into_iter().filter_map(|i| i.parse().ok()).collect())
    }

    /// Whether a cancellation of the job is pending (a running step may stop early for it).
    ///
    /// # Errors
    /// Redis failed.
    pub async fn cancel_requested(&self, ctx: &crate::JobContext) -> Result<bool, QueueError> {
        let mut conn = self.conn.clone();
        let flag: Option<String> = redis::cmd("HGET")
            .arg(self.cfg.job_key(&ctx.queue, ctx.id.as_str()))
            .arg("cancel_requested")
            .query_async(&mut conn)
            .await?;
        Ok(flag.as_deref() == Some("1"))
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
        let (outcome, state, woke): (String, String, i64) = self
            .scripts
            .cancel
            .prepare_invoke()
            .key(self.cfg.queue_base(&rec.queue))
            .arg(id.as_str())
            .arg(event)
            .arg(self.cfg.events_max_len)
            .invoke_async(&mut conn)
            .await?;
        if woke == 1 {
            self.drain_wakes(&rec.queue).await?;
        }
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
        let queue = self.require_queue(id).await?;
        let mut conn = self.conn.clone();
        let (outcome, state): (String, String) = self
            .scripts
            .requeue
            .prepare_invoke()
            .key(self.cfg.queue_base(&queue))
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
            .key(self.cfg.queue_base(&ctx.queue))
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
        let Some(queue) = self.queue_of(id.as_str()).await? else {
            return Ok(());
        };
        let mut conn = self.conn.clone();
        let _: () = redis::cmd("EVAL")
            .arg("if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end")
            .arg(1)
            .arg(self.cfg.job_key(&queue, id.as_str()))
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
            let deleted: Vec<(String, String)> = self
                .scripts
                .trim
                .prepare_invoke()
                .key(self.cfg.queue_base(queue))
                .arg(state.as_str())
                .arg(cutoff)
                .arg(chunk)
                .invoke_async(&mut conn)
                .await?;
            // The records are gone; now their idempotency slots and index entries (a crash
            // in between leaves entries that name no record: harmless, see ARCHITECTURE.md).
            self.forget_trimmed(&deleted).await?;
            let n = deleted.len() as u64;
            total += n;
            if n < chunk as u64 {
                return Ok(total);
            }
        }
    }

    /// Reads the completion events of `queue` among the next `count` entries of its event
    /// stream after stream id `after` (`"0"` from the start).
    pub async fn read_events(
        &self,
        queue: &str,
        after: &str,
        count: usize,
    ) -> Result<Vec<StreamEvent>, QueueError> {
        let mut conn = self.conn.clone();
        let reply: redis::streams::StreamRangeReply = conn
            .xrange_count(
                self.cfg.queue_events_key(queue),
                format!("({after}"),
                "+",
                count,
            )
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

    /// The first `count` completion events of every queue, merged in the order they were
    /// written (each stream's ids are Redis times).
    ///
    /// # Errors
    /// Redis failed.
    pub async fn events_of_every_queue(
        &self,
        count: usize,
    ) -> Result<Vec<StreamEvent>, QueueError> {
        let mut all = Vec::new();
        for queue in self.queues().await? {
            all.extend(self.read_events(&queue, "0", count).await?);
        }
        let time = |e: &StreamEvent| {
            let (ms, seq) = e.stream_id.split_once('-').unwrap_or((&e.stream_id, "0"));
            (
                ms.parse::<u64>().unwrap_or(0),
                seq.parse::<u64>().unwrap_or(0),
            )
        };
        all.sort_by_key(time);
        Ok(all)
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
