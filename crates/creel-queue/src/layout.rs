//! Which key layout a Redis holds, and moving data from the layout before Redis Cluster support
//! (keys built from the prefix inside scripts: `<prefix>:job:<id>`, `<prefix>:q:<queue>:…`) to
//! today's (`<prefix>:q:{<queue>}:…`, see `keys.rs`). `creel migrate` runs [`migrate`] with the
//! fleet stopped; a process that finds old-layout data refuses to start instead of ignoring it.
//! `migrate` also deletes index sets a later version stopped keeping; nothing reads those, so
//! that part may run with the fleet up.

use creel_core::JobState;
use creel_redis::{RedisConnection, RedisTarget};

use crate::{QueueConfig, QueueError};

/// The layout version `<prefix>:layout` holds once a Redis is in today's layout.
const LAYOUT: &str = "2";

/// Keys per `SCAN` round.
const SCAN_COUNT: usize = 1000;

/// What a migration moved.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Migrated {
    /// Queues whose lists, sets and flags moved.
    pub queues: usize,
    /// Job records moved (and indexed).
    pub jobs: usize,
    /// Child-job sets moved.
    pub children: usize,
    /// Signal payloads and listener sets moved.
    pub signals: usize,
    /// Rate-limiter keys moved (TATs, sub-quotas, counters).
    pub limiter: usize,
    /// Index sets deleted that this version no longer keeps (`state:ready`, `state:running`:
    /// the ready list and the leases set index those states).
    pub obsolete: usize,
}

/// Per-queue index sets that are no longer kept: the ready list is the index of 'ready', and
/// the leases set that of 'running'. `migrate` deletes them, in either layout.
const OBSOLETE_SUFFIXES: [&str; 2] = ["state:ready", "state:running"];

impl QueueConfig {
    fn layout_key(&self) -> String {
        format!("{}:layout", self.prefix)
    }

    fn old_queue_key(&self, queue: &str, suffix: &str) -> String {
        format!("{}:q:{queue}:{suffix}", self.prefix)
    }
}

/// Every per-queue key suffix of both layouts.
fn queue_suffixes() -> Vec<String> {
    let mut out: Vec<String> = ["ready", "scheduled", "leases", "paused"]
        .map(str::to_owned)
        .into();
    out.extend(JobState::ALL.iter().map(|s| format!("state:{s}")));
    out
}

/// Fails with [`QueueError::OldLayout`] if Redis holds old-layout data; marks a Redis that holds
/// none (a new one, or one already migrated) as being in today's layout.
pub(crate) async fn check(cfg: &QueueConfig, conn: &mut RedisConnection) -> Result<(), QueueError> {
    let mark: Option<String> = redis::cmd("GET")
        .arg(cfg.layout_key())
        .query_async(conn)
        .await?;
    if mark.as_deref() == Some(LAYOUT) {
        return Ok(());
    }
    // A cluster never held the old layout: its scripts could not run there.
    if !matches!(cfg.redis, RedisTarget::Cluster(_))
        && let Some(found) = old_data(cfg, conn).await?
    {
        return Err(QueueError::OldLayout(found));
    }
    let _: () = redis::cmd("SET")
        .arg(cfg.layout_key())
        .arg(LAYOUT)
        .query_async(conn)
        .await?;
    Ok(())
}

/// The first old-layout key found, if any: a known queue's list or set, or a job record.
async fn old_data(
    cfg: &QueueConfig,
    conn: &mut RedisConnection,
) -> Result<Option<String>, QueueError> {
    let queues: Vec<String> = redis::cmd("SMEMBERS")
        .arg(cfg.queues_key())
        .query_async(conn)
        .await?;
    for queue in queues {
        for suffix in queue_suffixes() {
            let key = cfg.old_queue_key(&queue, &suffix);
            let n: i64 = redis::cmd("EXISTS").arg(&key).query_async(conn).await?;
            if n > 0 {
                return Ok(Some(key));
            }
        }
    }
    let (_, keys): (String, Vec<String>) = redis::cmd("SCAN")
        .arg(0)
        .arg("MATCH")
        .arg(format!("{}:job:*", cfg.prefix))
        .arg("COUNT")
        .arg(SCAN_COUNT)
        .query_async(conn)
        .await?;
    Ok(keys.into_iter().next())
}

/// Every key matching `pattern` (a full `SCAN`).
async fn scan(conn: &mut RedisConnection, pattern: &str) -> Result<Vec<String>, QueueError> {
    let mut cursor = 0u64;
    let mut out = Vec::new();
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(SCAN_COUNT)
            .query_async(conn)
            .await?;
        out.extend(keys);
        if next == 0 {
            return Ok(out);
        }
        cursor = next;
    }
}

/// Renames `from` to `to` unless `to` already holds data (then both layouts hold it, which
/// only a process writing during the migration can cause).
async fn rename(conn: &mut RedisConnection, from: &str, to: &str) -> Result<(), QueueError> {
    let done: i64 = redis::cmd("RENAMENX")
        .arg(from)
        .arg(to)
        .query_async(conn)
        .await?;
    if done == 1 {
        Ok(())
    } else {
        Err(QueueError::OldLayout(format!(
            "{from} and {to} both exist: was a creel process running during the migration?"
        )))
    }
}

/// Moves old-layout data of a single Redis into today's layout: each queue's keys, each job
/// record (indexed by id), child sets, signals and limiter keys. Run it with every creel
/// process stopped; it can be run again after an interruption (what moved stays moved).
///
/// # Errors
/// Redis failed, or a key exists in both layouts.
pub async fn migrate(cfg: &QueueConfig) -> Result<Migrated, QueueError> {
    if let RedisTarget::Cluster(_) = cfg.redis {
        return Err(QueueError::OldLayout(
            "a Redis Cluster never holds the old layout; nothing to migrate".into(),
        ));
    }
    let mut conn = crate::connect::connection(cfg).await?;
    let mut report = Migrated::default();
    let p = &cfg.prefix;

    let queues: Vec<String> = redis::cmd("SMEMBERS")
        .arg(cfg.queues_key())
        .query_async(&mut conn)
        .await?;
    for queue in &queues {
        let mut moved = false;
        for suffix in OBSOLETE_SUFFIXES {
            let deleted: usize = redis::cmd("DEL")
                .arg(cfg.old_queue_key(queue, suffix))
                .arg(cfg.queue_key(queue, suffix))
                .query_async(&mut conn)
                .await?;
            report.obsolete += deleted;
        }
        for suffix in queue_suffixes() {
            let old = cfg.old_queue_key(queue, &suffix);
            let n: i64 = redis::cmd("EXISTS")
                .arg(&old)
                .query_async(&mut conn)
                .await?;
            if n > 0 {
                rename(&mut conn, &old, &cfg.queue_key(queue, &suffix)).await?;
                moved = true;
            }
        }
        report.queues += usize::from(moved);
    }

    // Job records: each moves into its queue, after its index entry is written (a job that
    // exists can always be found by id).
    for old in scan(&mut conn, &format!("{p}:job:*")).await? {
        let id = &old[p.len() + ":job:".len()..];
        let queue: Option<String> = redis::cmd("HGET")
            .arg(&old)
            .arg("queue")
            .query_async(&mut conn)
            .await?;
        let Some(queue) = queue else { continue };
        let _: () = redis::cmd("HSET")
            .arg(cfg.index_key(id))
            .arg(id)
            .arg(&queue)
            .query_async(&mut conn)
            .await?;
        rename(&mut conn, &old, &cfg.job_key(&queue, id)).await?;
        report.jobs += 1;
    }
    for old in scan(&mut conn, &format!("{p}:children:*")).await? {
        let parent = &old[p.len() + ":children:".len()..];
        let queue: Option<String> = redis::cmd("HGET")
            .arg(cfg.index_key(parent))
            .arg(parent)
            .query_async(&mut conn)
            .await?;
        match queue {
            Some(queue) => {
                rename(&mut conn, &old, &cfg.children_key(&queue, parent)).await?;
                report.children += 1;
            }
            // The parent was trimmed: its links mean nothing any more.
            None => {
                let _: i64 = redis::cmd("DEL").arg(&old).query_async(&mut conn).await?;
            }
        }
    }

    // Signals: payload and listeners now share the key's hash tag. RENAME keeps the TTL.
    for (kind, new_suffix) in [("signal", "payload"), ("listeners", "listeners")] {
        let prefix = format!("{p}:{kind}:");
        for old in scan(&mut conn, &format!("{prefix}*")).await? {
            let key = &old[prefix.len()..];
            if key.is_empty() {
                continue;
            }
            let new = format!("{}:{new_suffix}", cfg.signal_base(key));
            rename(&mut conn, &old, &new).await?;
            report.signals += 1;
        }
    }

    // Limiter keys `<p>:limit:<vendor>:<account>:<rest>` → `<p>:limit:{<vendor>:<account>}:<rest>`.
    let limit = format!("{p}:limit:");
    for old in scan(&mut conn, &format!("{limit}*")).await? {
        let rest = &old[limit.len()..];
        if rest.starts_with('{') {
            continue;
        }
        let parts: Vec<&str> = rest.splitn(3, ':').collect();
        let [vendor, account, tail] = parts[..] else {
            continue;
        };
        let new = format!("{limit}{{{vendor}:{account}}}:{tail}");
        rename(&mut conn, &old, &new).await?;
        report.limiter += 1;
    }

    let _: () = redis::cmd("SET")
        .arg(cfg.layout_key())
        .arg(LAYOUT)
        .query_async(&mut conn)
        .await?;
    tracing::info!(?report, "migrated to the cluster-ready key layout");
    Ok(report)
}
