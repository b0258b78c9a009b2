//! The reply of the prelude's `lease_jobs` (fetch.lua, and the lease half of finish.lua),
//! decoded once: when to look again, and each leased job's fields. A job comes as one string,
//! its fields joined by NUL, rather than as 14 replies: the client parses one value per job
//! instead of 14 (redis-rs's parser was about a fifth of a busy worker's CPU), while Redis's
//! own time stays about the same (it joins what it would have sent).

/// What one `lease_jobs` call answered.
#[derive(Debug, Default)]
pub(crate) struct LeaseReply {
    /// -2 paused, -1 nothing scheduled, else ms until the next scheduled job is due.
    pub(crate) wait_ms: i64,
    /// The jobs leased, in lease order.
    pub(crate) jobs: Vec<LeasedJob>,
    /// Rows that did not split into a job's 14 fields (each row's text, cut short): their
    /// leases expire and the reaper gives them back.
    pub(crate) bad_rows: Vec<String>,
}

/// One leased job's fields as the record holds them ('' when absent), in the row's order.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct LeasedJob {
    pub(crate) id: String,
    pub(crate) token: String,
    /// This attempt of the step, from 1.
    pub(crate) attempts: String,
    pub(crate) kind: String,
    pub(crate) account: String,
    pub(crate) payload: String,
    pub(crate) step: String,
    pub(crate) traceparent: String,
    pub(crate) runs: String,
    pub(crate) checkpoint: String,
    pub(crate) created_by: String,
    pub(crate) lease_losses: String,
    pub(crate) tracestate: String,
    /// When the step became due (ms since the epoch).
    pub(crate) run_at: String,
}

impl LeaseReply {
    /// Decodes `{ wait_ms, row... }`. An empty reply (no lease asked for) is "nothing
    /// scheduled, nothing leased".
    pub(crate) fn decode(reply: Vec<redis::Value>) -> redis::RedisResult<Self> {
        let mut it = reply.into_iter();
        let wait_ms = match it.next() {
            Some(v) => redis::from_redis_value(v)?,
            None => -1,
        };
        let mut out = Self {
            wait_ms,
            jobs: Vec::with_capacity(it.len()),
            bad_rows: Vec::new(),
        };
        for v in it {
            let row: String = redis::from_redis_value(v)?;
            match LeasedJob::split(&row) {
                Some(job) => out.jobs.push(job),
                None => out
                    .bad_rows
                    .push(row.chars().take(80).collect::<String>().replace('\0', "|")),
            }
        }
        Ok(out)
    }

    /// How many jobs the call leased, rows that decode or not.
    pub(crate) fn rows(&self) -> usize {
        self.jobs.len() + self.bad_rows.len()
    }
}

impl LeasedJob {
    /// The job of one NUL-joined row, if it has exactly 14 fields. None can hold a NUL:
    /// ids are ULIDs, tokens and names are checked, payloads and checkpoints are JSON text,
    /// and enqueue checks the W3C trace context.
    fn split(row: &str) -> Option<Self> {
        let mut f = row.split('\0').map(str::to_owned);
        let mut next = || f.next();
        let job = Self {
            id: next()?,
            token: next()?,
            attempts: next()?,
            kind: next()?,
            account: next()?,
            payload: next()?,
            step: next()?,
            traceparent: next()?,
            runs: next()?,
            checkpoint: next()?,
            created_by: next()?,
            lease_losses: next()?,
            tracestate: next()?,
            run_at: next()?,
        };
        next().is_none().then_some(job)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redis::Value;

    /// Fields per leased job, in `lease_jobs`' order.
    const FIELDS: usize = 14;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn decodes_rows_of_fourteen_fields_and_sets_aside_others() {
        let fields: Vec<String> = (0..FIELDS).map(|i| format!("f{i}")).collect();
        let mut empty_ones = fields.clone();
        empty_ones[4] = String::new();
        empty_ones[13] = String::new();
        let reply = vec![
            Value::Int(250),
            bulk(&fields.join("\0")),
            bulk(&empty_ones.join("\0")),
            bulk(&fields[..13].join("\0")),
            bulk(&format!("{}\0extra", fields.join("\0"))),
        ];
        let got = LeaseReply::decode(reply).expect("decodes");
        assert_eq!(got.wait_ms, 250);
        assert_eq!(got.jobs.len(), 2);
        let j = &got.jobs[0];
        assert_eq!((j.id.as_str(), j.token.as_str()), ("f0", "f1"));
        assert_eq!((j.payload.as_str(), j.run_at.as_str()), ("f5", "f13"));
        assert_eq!(got.jobs[1].account, "");
        assert_eq!(got.jobs[1].run_at, "");
        assert_eq!(got.bad_rows.len(), 2, "13 and 15 fields are refused");
        assert!(got.bad_rows[0].starts_with("f0|f1|"), "{:?}", got.bad_rows);
    }

    #[test]
    fn an_empty_reply_leases_nothing() {
        let got = LeaseReply::decode(Vec::new()).expect("decodes");
        assert_eq!(got.wait_ms, -1);
        assert!(got.jobs.is_empty());
    }
}
