//! What every simulated request passes before its vendor handler: the account must exist, the
//! quota must admit it, and an armed fault may hit it. Also the request log.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use creel_core::config::Vendor;
use serde_json::Value;

use crate::faults::{FaultKind, TIMEOUT_HOLD};
use crate::log::LoggedRequest;
use crate::quota::SlidingWindow;
use crate::{SimAccount, Simulator};

/// Why a request does not reach its handler.
#[derive(Debug, Clone)]
pub(crate) enum Refusal {
    /// No such account.
    NoAccount,
    /// Over quota (or a rate-limit fault).
    RateLimited,
    /// A fault: this HTTP status.
    Status(u16),
    /// A fault: a 200 that is not JSON.
    Malformed,
}

impl Refusal {
    /// The log's outcome string.
    pub(crate) fn outcome(&self) -> String {
        match self {
            Self::NoAccount => "no_account".into(),
            Self::RateLimited => "rate_limited".into(),
            Self::Status(s) => format!("fault:status_{s}"),
            Self::Malformed => "fault:malformed".into(),
        }
    }

    /// The answer for the refusals every vendor answers alike.
    pub(crate) fn generic_response(&self) -> Option<Response> {
        match self {
            Self::Status(s) => Some(
                (
                    StatusCode::from_u16(*s).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                    "simulated failure",
                )
                    .into_response(),
            ),
            Self::Malformed => Some(
                (
                    StatusCode::OK,
                    [("content-type", "application/json")],
                    "{\"code\":0,\"data\":{\"truncat",
                )
                    .into_response(),
            ),
            Self::NoAccount | Self::RateLimited => None,
        }
    }
}

/// What passed: the account and whether a fault demands a "bad signature" answer.
pub(crate) struct Admitted {
    pub(crate) account: SimAccount,
    pub(crate) force_bad_sign: bool,
}

impl Simulator {
    /// Runs the gate for a request of `vendor` account `account_id` to `path`.
    pub(crate) async fn admit(
        &self,
        vendor: Vendor,
        account_id: Option<&str>,
        path: &str,
    ) -> Result<Admitted, Refusal> {
        let account = account_id
            .and_then(|id| self.account(vendor, id))
            .ok_or(Refusal::NoAccount)?;
        let fault = {
            let mut world = self.world();
            if let Some(q) = account.effective_quota() {
                let window = world
                    .windows
                    .entry((vendor, account.id.clone()))
                    .or_insert_with(|| {
                        SlidingWindow::new(q.requests, Duration::from_millis(q.window_ms))
                    });
                if window.admit(Instant::now()).is_err() {
                    return Err(Refusal::RateLimited);
                }
            }
            world.faults.take(vendor.as_str(), path)
        };
        let mut force_bad_sign = false;
        match fault {
            None => {}
            Some(FaultKind::Slow { delay_ms }) => {
                tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            }
            Some(FaultKind::Timeout) => {
                tokio::time::sleep(TIMEOUT_HOLD).await;
                return Err(Refusal::Status(504));
            }
            Some(FaultKind::Status { status }) => return Err(Refusal::Status(status)),
            Some(FaultKind::Malformed) => return Err(Refusal::Malformed),
            Some(FaultKind::RateLimit) => return Err(Refusal::RateLimited),
            Some(FaultKind::BadSign) => force_bad_sign = true,
        }
        Ok(Admitted {
            account,
            force_bad_sign,
        })
    }

    /// Appends a request to the log.
    pub(crate) fn log_request(
        &self,
        vendor: &str,
        account: Option<&str>,
        path: &str,
        params: Value,
        outcome: String,
    ) {
        let at_ms = self.now_ms();
        let mut world = self.world();
        let seq = world.log.len() as u64 + 1;
        world.log.push(LoggedRequest {
            seq,
            at_ms,
            vendor: vendor.to_owned(),
            account: account.map(str::to_owned),
            path: path.to_owned(),
            params,
            outcome,
        });
    }
}
