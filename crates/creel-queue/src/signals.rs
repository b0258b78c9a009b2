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
        let mut conn = self.conn.clone();
        let woken: i64 = self
            .scripts
            .signal
            .prepare_invoke()
            .arg(&self.cfg.prefix)
            .arg("")
            .arg(key)
            .arg(payload.to_string())
            .arg(u64::try_from(keep.as_millis()).unwrap_or(u64::MAX).max(1))
            .invoke_async(&mut conn)
            .await?;
        Ok(usize::try_from(woken).unwrap_or(0))
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
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.conn.clone();
        let mut call = self.scripts.listen.prepare_invoke();
        call.arg(&self.cfg.prefix)
            .arg("")
            .arg(ctx.id.as_str())
            .arg(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1));
        for k in keys {
            call.arg(k);
        }
        let raw: Vec<String> = call.invoke_async(&mut conn).await?;
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
            .arg(format!("{}:signal:{key}", self.cfg.prefix))
            .query_async(&mut conn)
            .await?;
        Ok(raw.and_then(|r| serde_json::from_str(&r).ok()))
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
