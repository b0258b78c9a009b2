//! Fault injection: make the next N requests to an endpoint fail in a chosen way, so creel's
//! handling of each vendor misbehaviour can be tested.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How a request fails.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// Answer with this HTTP status and a short text body.
    Status {
        /// The status.
        status: u16,
    },
    /// Never answer within any sensible client timeout (the connection stays open).
    Timeout,
    /// Answer normally, after `delay_ms`.
    Slow {
        /// The extra delay, in real milliseconds.
        delay_ms: u64,
    },
    /// Answer 200 with a body that is not JSON.
    Malformed,
    /// Answer with the vendor's "bad signature" error even though the signature is good.
    BadSign,
    /// Answer with the account's rate-limit answer.
    RateLimit,
}

/// One armed fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    /// `plaso`, `baijiayun`, `weclassroom`, or `files` for the video downloads (which honour
    /// `status` faults only).
    pub vendor: String,
    /// The endpoint's path suffix (e.g. `/openapi/video/getUrl`), or `*` for every endpoint.
    pub endpoint: String,
    /// What happens.
    #[serde(flatten)]
    pub kind: FaultKind,
    /// How many requests it hits (then it disarms).
    #[serde(default = "one")]
    pub count: u32,
}

fn one() -> u32 {
    1
}

/// The armed faults.
#[derive(Debug, Default)]
pub struct Faults(Vec<Fault>);

impl Faults {
    /// Arms `fault`.
    pub fn arm(&mut self, fault: Fault) {
        self.0.push(fault);
    }

    /// Disarms everything.
    pub fn clear(&mut self) {
        self.0.clear();
    }

    /// The fault that hits this request, if any (consuming one of its count).
    pub fn take(&mut self, vendor: &str, path: &str) -> Option<FaultKind> {
        let i = self.0.iter().position(|f| {
            f.vendor == vendor && (f.endpoint == "*" || path.ends_with(&f.endpoint)) && f.count > 0
        })?;
        let kind = self.0[i].kind.clone();
        self.0[i].count -= 1;
        if self.0[i].count == 0 {
            self.0.remove(i);
        }
        Some(kind)
    }
}

/// How long a `Timeout` fault holds the request.
pub const TIMEOUT_HOLD: Duration = Duration::from_secs(600);
