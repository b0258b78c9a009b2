//! The request log: every request the simulator received, with its arrival time and what it
//! answered, for tests and `/_sim/requests`.

use serde::Serialize;

/// One request.
#[derive(Debug, Clone, Serialize)]
pub struct LoggedRequest {
    /// Order of arrival.
    pub seq: u64,
    /// Real milliseconds since the simulator started.
    pub at_ms: u64,
    /// `plaso`, `baijiayun`, `weclassroom` or `files`.
    pub vendor: String,
    /// The account id (partner_id, appId, applicationID) when the request named one.
    pub account: Option<String>,
    /// The request path.
    pub path: String,
    /// The decoded parameters (WeClassroom: decrypted), for assertions.
    pub params: serde_json::Value,
    /// What was answered: `ok`, a vendor code, `rate_limited`, `fault:<kind>`.
    pub outcome: String,
}
