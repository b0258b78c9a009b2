//! Consumer-group access to creel's Redis streams: each queue's completion events
//! (`<prefix>:q:{<queue>}:events`, written by the script that ends the job, on the queue's
//! shard), the fleet-wide `<prefix>:events` (the intake's answers to requests), and
//! `<prefix>:requests` (job requests from producers that prefer a stream to HTTP). Entries a
//! crashed consumer left unacknowledged are reclaimed by the next reader after `reclaim_after`.

use std::collections::HashMap;
use std::time::Duration;

use redis::streams::{StreamReadOptions, StreamReadReply};

use crate::{Queue, QueueError};

/// Which stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stream {
    /// `<prefix>:events`: the intake's request events (and completion events written before
    /// per-queue streams); one CloudEvent JSON per entry, field `event`.
    Events,
    /// `<prefix>:q:{<queue>}:events`: the completion events of one queue, field `event`.
    QueueEvents(String),
    /// `<prefix>:requests`: one job request JSON per entry, field `request`.
    Requests,
}

/// One stream entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEntry {
    /// The entry id.
    pub id: String,
    /// Its fields (values that are not UTF-8 are dropped).
    pub fields: HashMap<String, String>,
}

fn to_entries(ids: Vec<redis::streams::StreamId>) -> Vec<StreamEntry> {
    ids.into_iter()
        .map(|e| StreamEntry {
            fields: e
                .map
                .iter()
                .filter_map(|(k, v)| {
                    redis::from_redis_value_ref::<String>(v)
                        .ok()
                        .map(|s| (k.clone(), s))
                })
                .collect(),
            id: e.id,
        })
        .collect()
}

/// A consumer in a group of one stream, with a connection of its own for blocking reads (on
/// the shared connection a blocking read would stall every command queued behind it).
pub struct StreamReader {
    queue: Queue,
    key: String,
    group: String,
    consumer: String,
    blocking: creel_redis::RedisConnection,
}

impl std::fmt::Debug for StreamReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamReader")
            .field("key", &self.key)
            .field("group", &self.group)
            .field("consumer", &self.consumer)
            .finish_non_exhaustive()
    }
}

impl StreamReader {
    /// Reads up to `count` entries: first entries other consumers left pending longer than
    /// `reclaim_after`, then new ones, waiting up to `block` for them.
    pub async fn read(
        &mut self,
        count: usize,
        block: Duration,
        reclaim_after: Duration,
    ) -> Result<Vec<StreamEntry>, QueueError> {
        let mut conn = self.queue.conn.clone();
        let claimed: redis::streams::StreamAutoClaimReply = redis::cmd("XAUTOCLAIM")
            .arg(&self.key)
            .arg(&self.group)
            .arg(&self.consumer)
            .arg(u64::try_from(reclaim_after.as_millis()).unwrap_or(u64::MAX))
            .arg("0-0")
            .arg("COUNT")
            .arg(count)
            .query_async(&mut conn)
            .await?;
        if !claimed.claimed.is_empty() {
            return Ok(to_entries(claimed.claimed));
        }
        let opts = StreamReadOptions::default()
            .group(&self.group, &self.consumer)
            .count(count)
            .block(usize::try_from(block.as_millis()).unwrap_or(usize::MAX));
        let reply: Option<StreamReadReply> =
            redis::AsyncCommands::xread_options(&mut self.blocking, &[&self.key], &[">"], &opts)
                .await?;
        Ok(reply
            .map(|r| r.keys.into_iter().flat_map(|k| to_entries(k.ids)).collect())
            .unwrap_or_default())
    }

    /// Acknowledges entries this group has handled.
    pub async fn ack(&self, ids: &[String]) -> Result<(), QueueError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut conn = self.queue.conn.clone();
        let _: u64 = redis::AsyncCommands::xack(&mut conn, &self.key, &self.group, ids).await?;
        Ok(())
    }
}

impl Queue {
    /// The Redis key of a stream.
    #[must_use]
    pub fn stream_key(&self, stream: &Stream) -> String {
        match stream {
            Stream::Events => self.cfg.events_key(),
            Stream::QueueEvents(queue) => self.cfg.queue_events_key(queue),
            Stream::Requests => format!("{}:requests", self.cfg.prefix),
        }
    }

    /// A reader for `consumer` in `group` of `stream`; the group is created from the start of
    /// the stream if it does not exist, so nothing appended before the first reader is missed.
    /// The blocking connection's response timeout is raised to cover `block_up_to`.
    pub async fn stream_reader(
        &self,
        stream: &Stream,
        group: &str,
        consumer: &str,
        block_up_to: Duration,
    ) -> Result<StreamReader, QueueError> {
        let key = self.stream_key(stream);
        let mut conn = self.conn.clone();
        let created: redis::RedisResult<()> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(&key)
            .arg(group)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(&mut conn)
            .await;
        if let Err(e) = created
            && e.code() != Some("BUSYGROUP")
        {
            return Err(e.into());
        }
        let mut cfg = (*self.cfg).clone();
        cfg.response_timeout += block_up_to;
        let blocking = crate::connect::connection(&cfg).await?;
        Ok(StreamReader {
            queue: self.clone(),
            key,
            group: group.to_owned(),
            consumer: consumer.to_owned(),
            blocking,
        })
    }

    /// The consumer groups of `stream`: each one's name and lag (entries not yet delivered to
    /// it; `None` when Redis cannot tell, e.g. after a trim past its last delivery).
    pub async fn consumer_groups(
        &self,
        stream: &Stream,
    ) -> Result<Vec<(String, Option<u64>)>, QueueError> {
        let mut conn = self.conn.clone();
        let groups: redis::RedisResult<Vec<HashMap<String, redis::Value>>> = redis::cmd("XINFO")
            .arg("GROUPS")
            .arg(self.stream_key(stream))
            .query_async(&mut conn)
            .await;
        let groups = match groups {
            Ok(g) => g,
            // No stream yet: no groups.
            Err(e)
                if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::ResponseError) =>
            {
                return Ok(Vec::new());
            }
            Err(e) => return Err(e.into()),
        };
        Ok(groups
            .into_iter()
            .filter_map(|g| {
                let name: String = redis::from_redis_value_ref(g.get("name")?).ok()?;
                let lag = g
                    .get("lag")
                    .and_then(|v| redis::from_redis_value_ref::<u64>(v).ok());
                Some((name, lag))
            })
            .collect())
    }

    /// Trims the request stream to about `max_len` entries (`XTRIM MAXLEN ~`): entries the
    /// intake has long since handled go, so producers cannot grow it without bound.
    pub async fn trim_requests(&self, max_len: u64) -> Result<u64, QueueError> {
        let mut conn = self.conn.clone();
        let removed: u64 = redis::cmd("XTRIM")
            .arg(self.stream_key(&Stream::Requests))
            .arg("MAXLEN")
            .arg("~")
            .arg(max_len)
            .query_async(&mut conn)
            .await?;
        Ok(removed)
    }

    /// Appends an event (CloudEvent JSON) to the events stream, capped like completion events.
    pub async fn append_event(&self, event_json: &str) -> Result<String, QueueError> {
        let mut conn = self.conn.clone();
        let id: String = redis::cmd("XADD")
            .arg(self.cfg.events_key())
            .arg("MAXLEN")
            .arg("~")
            .arg(self.cfg.events_max_len)
            .arg("*")
            .arg("event")
            .arg(event_json)
            .query_async(&mut conn)
            .await?;
        Ok(id)
    }
}
