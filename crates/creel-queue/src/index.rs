//! The steps that cross queues, each on keys of their own slot: the job-id → queue index that
//! finds a job by id alone, idempotency claims, and waking jobs by id wherever they live.
//! ARCHITECTURE.md ("Key layout") argues why the order of these steps keeps every guarantee
//! a single Redis gave in one script.

use std::collections::BTreeMap;

use futures::future::try_join_all;

use crate::{Queue, QueueError};

/// Releases an idempotency slot only while it still names the trimmed job (a newer claim
/// stays).
const RELEASE_SLOT: &str =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

/// Replaces a claim that names a job the index no longer knows (trimmed), only if nobody
/// replaced it first. Returns the id the slot names afterwards.
const REPLACE_STALE_CLAIM: &str = "local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] or not cur then
  if tonumber(ARGV[3]) > 0 then redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
  else redis.call('SET', KEYS[1], ARGV[2]) end
  return ARGV[2]
end
return cur";

impl Queue {
    /// The queue job `id` lives in, from the index; `None` when there is no such job (or it
    /// was trimmed).
    ///
    /// # Errors
    /// Redis failed.
    pub async fn queue_of(&self, id: &str) -> Result<Option<String>, QueueError> {
        let mut conn = self.conn.clone();
        Ok(redis::cmd("HGET")
            .arg(self.cfg.index_key(id))
            .arg(id)
            .query_async(&mut conn)
            .await?)
    }

    /// Records `id → queue` for each job: done before the records are written, so a job that
    /// exists can always be found by its id.
    pub(crate) async fn index_jobs(&self, jobs: &[(&str, &str)]) -> Result<(), QueueError> {
        self.per_bucket("HSET", jobs.iter().map(|(id, queue)| (*id, Some(*queue))))
            .await
    }

    /// Forgets the index entries of `ids` (their records are gone, or were never written).
    pub(crate) async fn unindex_jobs(&self, ids: &[&str]) -> Result<(), QueueError> {
        self.per_bucket("HDEL", ids.iter().map(|id| (*id, None)))
            .await
    }

    /// One `command` per index hash, with each entry's id (and value, if any) as arguments.
    async fn per_bucket<'a>(
        &self,
        command: &str,
        entries: impl Iterator<Item = (&'a str, Option<&'a str>)>,
    ) -> Result<(), QueueError> {
        let mut by_bucket: BTreeMap<String, redis::Cmd> = BTreeMap::new();
        for (id, value) in entries {
            let cmd = by_bucket
                .entry(self.cfg.index_key(id))
                .or_insert_with_key(|key| {
                    let mut cmd = redis::cmd(command);
                    cmd.arg(key);
                    cmd
                });
            cmd.arg(id);
            if let Some(value) = value {
                cmd.arg(value);
            }
        }
        self.run_each(by_bucket.into_values()).await
    }

    /// Sends each command on its own (they name keys of different slots), all at once.
    async fn run_each(&self, cmds: impl IntoIterator<Item = redis::Cmd>) -> Result<(), QueueError> {
        try_join_all(cmds.into_iter().map(|cmd| {
            let mut conn = self.conn.clone();
            async move { cmd.query_async::<()>(&mut conn).await }
        }))
        .await?;
        Ok(())
    }

    /// Claims idempotency `slot` for job `id` (already indexed). Returns the id the slot names
    /// afterwards: `id` when this call claimed it, else the job an earlier request claimed it
    /// for (that job may still be on its way to being written: the caller writes it, with the
    /// same id, if it is missing, so a slot never names two jobs).
    pub(crate) async fn claim_slot(
        &self,
        slot: &str,
        id: &str,
        ttl_secs: u64,
    ) -> Result<(String, String), QueueError> {
        let key = self.cfg.idem_key(slot);
        let mut conn = self.conn.clone();
        let mut set = redis::cmd("SET");
        set.arg(&key).arg(id).arg("NX").arg("GET");
        if ttl_secs > 0 {
            set.arg("EX").arg(ttl_secs);
        }
        let previous: Option<String> = set.query_async(&mut conn).await?;
        let Some(mut named) = previous else {
            return Ok((id.to_owned(), String::new()));
        };
        // A claimer indexes its job before claiming, so a claim whose job the index does not
        // know is stale (its job was trimmed and the release was cut short): replace it.
        for _ in 0..3 {
            if let Some(queue) = self.queue_of(&named).await? {
                return Ok((named, queue));
            }
            named = redis::cmd("EVAL")
                .arg(REPLACE_STALE_CLAIM)
                .arg(1)
                .arg(&key)
                .arg(&named)
                .arg(id)
                .arg(ttl_secs)
                .query_async(&mut conn)
                .await?;
            if named == id {
                return Ok((named, String::new()));
            }
        }
        Err(QueueError::Contended(slot.to_owned()))
    }

    /// After retention deleted jobs: releases their idempotency slots (those still naming
    /// them), then their index entries.
    pub(crate) async fn forget_trimmed(&self, jobs: &[(String, String)]) -> Result<(), QueueError> {
        let releases = jobs
            .iter()
            .filter(|(_, slot)| !slot.is_empty())
            .map(|(id, slot)| {
                let mut cmd = redis::cmd("EVAL");
                cmd.arg(RELEASE_SLOT)
                    .arg(1)
                    .arg(self.cfg.idem_key(slot))
                    .arg(id);
                cmd
            });
        self.run_each(releases).await?;
        let ids: Vec<&str> = jobs.iter().map(|(id, _)| id.as_str()).collect();
        self.unindex_jobs(&ids).await
    }

    /// Wakes the parents waiting in `queue`'s wake-up outbox (jobs of `queue` that ended put
    /// them there, in the step that ended them), then removes them: a crash in between wakes
    /// them twice, which is harmless. Returns how many were taken.
    pub(crate) async fn drain_wakes(&self, queue: &str) -> Result<usize, QueueError> {
        const CHUNK: isize = 200;
        let key = self.cfg.queue_key(queue, "wakes");
        let mut conn = self.conn.clone();
        let mut total = 0;
        loop {
            let ids: Vec<String> = redis::cmd("ZRANGE")
                .arg(&key)
                .arg(0)
                .arg(CHUNK - 1)
                .query_async(&mut conn)
                .await?;
            if ids.is_empty() {
                return Ok(total);
            }
            self.wake_jobs(&ids).await?;
            let _: i64 = redis::cmd("ZREM")
                .arg(&key)
                .arg(&ids)
                .query_async(&mut conn)
                .await?;
            total += ids.len();
            if ids.len() < CHUNK as usize {
                return Ok(total);
            }
        }
    }

    /// Makes jobs notice something now, wherever they live: a scheduled job becomes due, a
    /// running one hands over to a step due at once. Returns each found job's id and state.
    ///
    /// # Errors
    /// Redis failed.
    pub(crate) async fn wake_jobs(
        &self,
        ids: &[String],
    ) -> Result<Vec<(String, String)>, QueueError> {
        let queues = try_join_all(ids.iter().map(|id| self.queue_of(id))).await?;
        let mut by_queue: BTreeMap<String, Vec<&String>> = BTreeMap::new();
        for (id, queue) in ids.iter().zip(queues) {
            if let Some(queue) = queue {
                by_queue.entry(queue).or_default().push(id);
            }
        }
        let woken = try_join_all(
            by_queue
                .iter()
                .map(|(queue, ids)| self.wake_in(queue, ids.iter().map(|id| id.as_str()))),
        )
        .await?;
        Ok(woken.into_iter().flatten().collect())
    }

    /// [`Queue::wake_jobs`] for ids known to be of `queue` (no index lookups).
    ///
    /// # Errors
    /// Redis failed.
    pub(crate) async fn wake_in<'a>(
        &self,
        queue: &str,
        ids: impl Iterator<Item = &'a str>,
    ) -> Result<Vec<(String, String)>, QueueError> {
        let mut conn = self.conn.clone();
        let mut inv = self.scripts.wake.prepare_invoke();
        inv.key(self.cfg.queue_base(queue));
        let ids: Vec<&str> = ids.collect();
        for id in &ids {
            inv.arg(*id);
        }
        let states: Vec<String> = inv.invoke_async(&mut conn).await?;
        Ok(ids
            .into_iter()
            .map(str::to_owned)
            .zip(states)
            .filter(|(_, st)| !st.is_empty())
            .collect())
    }
}
