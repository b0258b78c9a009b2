//! Signals: a named fact delivered to jobs from outside (a vendor callback, a child job's end).
//! A job step *listens* on keys and gets back any payload already delivered; a *signal* stores
//! its payload for a while and makes every listening job's next step due now. This is how a
//! verified callback pulls a poll forward, and why a callback that arrives before the job knows
//! its task id is not lost: the payload waits for the listener.

use std::time::Duration;

use crate::{JobContext, Queue, QueueError};

impl Queue {
    /// Delivers `payload` on `key`: kept for `keep` (for listeners that come later), and every
    /// job listening on the key has its next step made due now. Returns how many jobs were
    /// woken.
    ///
    /// # Errors
    /// Redis failed.
    pub async fn signal(
        &self,
        key: &str,
        payload: &serde_json::Value,
        keep: Duration,
    ) -> Result<usize, QueueError> {
        let base = self.signal_base(key)?;
        let mut conn = self.conn.clone();
        // Stored with the listeners' set, in one step: a job that listens from now on reads
        // the payload; one that listened before is in `listeners` and is woken next.
        let listeners: Vec<String> = self
            .scripts
            .signal
            .prepare_invoke()
            .key(&base)
            .arg(payload.to_string())
            .arg(u64::try_from(keep.as_millis()).unwrap_or(u64::MAX).max(1))
            .invoke_async(&mut conn)
            .await?;
        if listeners.is_empty() {
            return Ok(0);
        }
        let woken = self.wake_jobs(&listeners).await?;
        let live = |state: &str| matches!(state, "scheduled" | "running" | "ready");
        let gone: Vec<&String> = listeners
            .iter()
            .filter(|id| !woken.iter().any(|(w, st)| w == *id && live(st)))
            .collect();
        if !gone.is_empty() {
            // Gone or finished: no longer listening.
            let _: i64 = redis::cmd("SREM")
                .arg(format!("{base}:listeners"))
                .arg(&gone)
                .query_async(&mut conn)
                .await?;
        }
        Ok(woken.iter().filter(|(_, st)| live(st)).count())
    }

    /// Registers the job of `ctx` as listening on `keys` for `ttl`, and returns, per key, the
    /// payload already delivered on it (if any).
    ///
    /// # Errors
    /// Redis failed.
    pub async fn listen(
        &self,
        ctx: &JobContext,
        keys: &[String],
        ttl: Duration,
    ) -> Result<Vec<Option<serde_json::Value>>, QueueError> {
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let raw = futures::future::try_join_all(keys.iter().map(|key| async move {
            let mut conn = self.conn.clone();
            let payload: String = self
                .scripts
                .listen
                .prepare_invoke()
                .key(self.signal_base(key)?)
                .arg(ctx.id.as_str())
                .arg(ttl_ms)
                .invoke_async(&mut conn)
                .await?;
            Ok::<_, QueueError>(payload)
        }))
        .await?;
        Ok(raw
            .into_iter()
            .map(|s| {
                if s.is_empty() {
                    None
                } else {
                    serde_json::from_str(&s).ok()
                }
            })
            .collect())
    }

    /// The payload last delivered on `key`, if it is still kept.
    ///
    /// # Errors
    /// Redis failed.
    pub async fn signal_payload(&self, key: &str) -> Result<Option<serde_json::Value>, QueueError> {
        let mut conn = self.conn.clone();
        let raw: Option<String> = redis::cmd("GET")
            .arg(format!("{}:payload", self.signal_base(key)?))
            .query_async(&mut conn)
            .await?;
        Ok(raw.and_then(|r| serde_json::from_str(&r).ok()))
    }

    /// The base of a signal key's keys; an empty key has no hash tag of its own, so it is
    /// refused.
    fn signal_base(&self, key: &str) -> Result<String, QueueError> {
        if key.is_empty() {
            return Err(QueueError::BadSignalKey(key.to_owned()));
        }
        Ok(self.cfg.signal_base(key))
    }

    /// Claims `key` once for `ttl` (SET NX): `true` the first time, `false` while the claim
    /// lasts. For replay guards and deduplication shared by every process.
    ///
    /// # Errors
    /// Redis failed.
    pub async fn claim_once(&self, key: &str, ttl: Duration) -> Result<bool, QueueError> {
        let mut conn = self.conn.clone();
        let set: Option<String> = redis::cmd("SET")
            .arg(format!("{}:once:{key}", self.cfg.prefix))
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1))
            .query_async(&mut conn)
            .await?;
        Ok(set.is_some())
    }

    /// Gives up a claim made with [`Queue::claim_once`] (acting on it failed; let a retry in).
    ///
    /// # Errors
    /// Redis failed.
    pub async fn release_claim(&self, key: &str) -> Result<(), QueueError> {
        let mut conn = self.conn.clone();
        let _: i64 = redis::cmd("DEL")
            .arg(format!("{}:once:{key}", self.cfg.prefix))
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    /// Reads a small shared value (`GET`), e.g. which vendor task creel owns for a record.
    ///
    /// # Errors
    /// Redis failed.
    pub async fn get_shared(&self, key: &str) -> Result<Option<String>, QueueError> {
        let mut conn = self.conn.clone();
        Ok(redis::cmd("GET")
            .arg(format!("{}:shared:{key}", self.cfg.prefix))
            .query_async(&mut conn)
            .await?)
    }

    /// Deletes a shared value.
    ///
    /// # Errors
    /// Redis failed.
    pub async fn delete_shared(&self, key: &str) -> Result<(), QueueError> {
        let mut conn = self.conn.clone();
        let _: i64 = redis::cmd("DEL")
            .arg(format!("{}:shared:{key}", self.cfg.prefix))
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    /// Writes a small shared value for `ttl` (`SET PX`).
    ///
    /// # Errors
    /// Redis failed.
    pub async fn set_shared(
        &self,
        key: &str,
        value: &str,
        ttl: Duration,
    ) -> Result<(), QueueError> {
        let mut conn = self.conn.clone();
        let _: () = redis::cmd("SET")
            .arg(format!("{}:shared:{key}", self.cfg.prefix))
            .arg(value)
            .arg("PX")
            .arg(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1))
            .query_async(&mut conn)
            .await?;
        Ok(())
    }
}
