//! The queue's Lua scripts, each prefixed with the shared prelude and loaded once per process.
//! `redis::Script` sends `EVALSHA` and falls back to `EVAL` after a Redis restart. Every script
//! takes one key, the base of the queue (or signal key) it works on: it routes the call to the
//! right Cluster shard, and every key the script touches starts with it.

use redis::Script;

const PRELUDE: &str = include_str!("lua/prelude.lua");

/// Every script the queue runs.
#[derive(Debug)]
pub(crate) struct Scripts {
    pub(crate) enqueue: Script,
    pub(crate) fetch: Script,
    pub(crate) finish: Script,
    pub(crate) cancel: Script,
    pub(crate) requeue: Script,
    pub(crate) reap: Script,
    pub(crate) renew: Script,
    pub(crate) release: Script,
    pub(crate) trim: Script,
    pub(crate) list: Script,
    pub(crate) progress: Script,
    pub(crate) signal: Script,
    pub(crate) listen: Script,
    pub(crate) backlog: Script,
    pub(crate) link: Script,
    pub(crate) wake: Script,
    /// The usage ledger's script (on an account's keys, not a queue's: no prelude).
    pub(crate) ledger: Script,
}

fn with_prelude(body: &str) -> Script {
    Script::new(&format!("{PRELUDE}\n{body}"))
}

impl Scripts {
    pub(crate) fn new() -> Self {
        Self {
            enqueue: with_prelude(include_str!("lua/enqueue.lua")),
            fetch: with_prelude(include_str!("lua/fetch.lua")),
            finish: with_prelude(include_str!("lua/finish.lua")),
            cancel: with_prelude(include_str!("lua/cancel.lua")),
            requeue: with_prelude(include_str!("lua/requeue.lua")),
            reap: with_prelude(include_str!("lua/reap.lua")),
            renew: with_prelude(include_str!("lua/renew.lua")),
            release: with_prelude(include_str!("lua/release.lua")),
            trim: with_prelude(include_str!("lua/trim.lua")),
            list: with_prelude(include_str!("lua/list.lua")),
            progress: with_prelude(include_str!("lua/progress.lua")),
            signal: with_prelude(include_str!("lua/signal.lua")),
            listen: with_prelude(include_str!("lua/listen.lua")),
            backlog: with_prelude(include_str!("lua/backlog.lua")),
            link: with_prelude(include_str!("lua/link.lua")),
            wake: with_prelude(include_str!("lua/wake.lua")),
            ledger: Script::new(include_str!("lua/ledger.lua")),
        }
    }
}
