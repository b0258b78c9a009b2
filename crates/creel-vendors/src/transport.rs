//! The HTTP leg every vendor client shares: take a quota permit, send, read the body, and
//! classify what is not the vendor's own answer (transport errors, HTTP statuses, rate-limit
//! answers). No retries here: retrying is the job's decision.

use std::sync::Arc;
use std::time::Duration;

use creel_core::config::{Vendor, VendorAccount};
use creel_core::{CallLimiter, QuotaKey};
use reqwest::StatusCode;
use tracing::Instrument;
use url::Url;

use crate::endpoint::{Endpoint, Paths};
use crate::error::{Classification, VendorError, body_prefix};

/// One account's way to the vendor: its base URL, endpoint paths, HTTP client, limiter and
/// timeout.
#[derive(Clone)]
pub(crate) struct Transport {
    pub(crate) vendor: Vendor,
    pub(crate) account: String,
    base: Url,
    paths: Paths,
    http: reqwest::Client,
    limiter: Arc<dyn CallLimiter>,
    timeout: Duration,
    rate_limit_codes: Vec<i64>,
    pause: Duration,
}

impl Transport {
    /// The transport of account `account_name`; `default_base` is used when the account has
    /// no `base_url` (`None`: the vendor has no common one, so it is required).
    pub(crate) fn new(
        account_name: &str,
        account: &VendorAccount,
        default_base: Option<&str>,
        endpoints: &[Endpoint],
        http: reqwest::Client,
        limiter: Arc<dyn CallLimiter>,
    ) -> Result<Self, VendorError> {
        let config = |reason: String| VendorError::Config {
            vendor: account.vendor,
            reason: format!("accounts.{account_name}.{reason}"),
        };
        let raw = account
            .base_url
            .as_deref()
            .or(default_base)
            .ok_or_else(|| config("base_url is required for this vendor".into()))?;
        let paths = Paths::resolve(endpoints, &account.paths).map_err(config)?;
        let base = Url::parse(raw.trim_end_matches('/'))
            .map_err(|e| config(format!("base_url {raw:?}: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(config(format!("base_url must be http(s), got {raw:?}")));
        }
        Ok(Self {
            vendor: account.vendor,
            account: account_name.to_owned(),
            base,
            paths,
            http,
            limiter,
            timeout: Duration::from_millis(account.timeout_ms),
            rate_limit_codes: account.rate_limit_codes.clone(),
            pause: Duration::from_millis(account.effective_quota().window_ms),
        })
    }

    /// The full URL of `endpoint` under the base URL (which may carry a path prefix).
    pub(crate) fn url(&self, endpoint: &Endpoint) -> String {
        format!(
            "{}{}",
            self.base.as_str().trim_end_matches('/'),
            self.paths.get(endpoint)
        )
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    fn key<'a>(&'a self, endpoint: &'a str) -> QuotaKey<'a> {
        QuotaKey {
            vendor: self.vendor,
            account: &self.account,
            endpoint,
        }
    }

    /// The CLIENT span of one call of `endpoint` (HTTP semantic conventions; `url.template` is
    /// the path, never the signed query). The caller runs the whole call in it, so `send`
    /// records the HTTP status and `judge` the vendor's code on it.
    pub(crate) fn span(&self, method: &'static str, endpoint: &Endpoint) -> tracing::Span {
        tracing::info_span!(
            "vendor call",
            otel.name = method,
            otel.kind = "client",
            otel.status_code = tracing::field::Empty,
            http.request.method = method,
            server.address = self.base.host_str().unwrap_or_default(),
            server.port = self.base.port_or_known_default().map(i64::from),
            url.template = format!(
                "{}{}",
                self.base.path().trim_end_matches('/'),
                self.paths.get(endpoint)
            ),
            http.response.status_code = tracing::field::Empty,
            creel.vendor = %self.vendor,
            creel.vendor.endpoint = endpoint.name,
            creel.vendor.code = tracing::field::Empty,
            error.type = tracing::field::Empty,
        )
    }

    /// Takes a permit, sends `request`, and returns the body of a 200 answer.
    pub(crate) async fn send(
        &self,
        endpoint: &'static str,
        request: reqwest::RequestBuilder,
    ) -> Result<Vec<u8>, VendorError> {
        let vendor = self.vendor;
        // Held until the answer is read: a per-pod concurrency cap counts calls in flight.
        let wait = tracing::info_span!(
            "limiter wait",
            creel.vendor = %vendor,
            creel.account = %self.account,
            creel.vendor.endpoint = endpoint,
            creel.limiter.outcome = tracing::field::Empty,
        );
        let permit = self
            .limiter
            .acquire(self.key(endpoint))
            .instrument(wait.clone())
            .await;
        wait.record(
            "creel.limiter.outcome",
            if permit.is_ok() { "granted" } else { "refused" },
        );
        drop(wait);
        let _permit = permit.map_err(|error| {
            record_error(&tracing::Span::current(), "quota");
            VendorError::Limited {
                vendor,
                endpoint,
                error,
            }
        })?;
        let transport = |e: reqwest::Error| {
            record_error(&tracing::Span::current(), "transport");
            VendorError::Transport {
                vendor,
                endpoint,
                reason: describe(&e),
            }
        };
        let response = request
            .timeout(self.timeout)
            .send()
            .await
            .map_err(transport)?;
        let status = response.status();
        tracing::Span::current().record("http.response.status_code", i64::from(status.as_u16()));
        if status != StatusCode::OK {
            record_error(&tracing::Span::current(), status.as_str());
        }
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| creel_core::retry_after::parse(v, std::time::SystemTime::now()));
        let body = response.bytes().await.map_err(transport)?.to_vec();
        if matches!(
            status,
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
        ) {
            return Err(self
                .rate_limited(endpoint, retry_after, body_prefix(&body))
                .await);
        }
        if status != StatusCode::OK {
            return Err(VendorError::Http {
                vendor,
                endpoint,
                status: status.as_u16(),
                body: body_prefix(&body),
            });
        }
        Ok(body)
    }

    /// Judges the vendor's answer `code`: a configured rate-limit code (the limiter is told),
    /// success by `classify`, or the vendor's error with its class.
    pub(crate) async fn judge(
        &self,
        endpoint: &'static str,
        code: i64,
        message: String,
        classify: fn(i64) -> Classification,
    ) -> Result<(), VendorError> {
        let span = tracing::Span::current();
        span.record("creel.vendor.code", code);
        if self.rate_limit_codes.contains(&code) {
            record_error(&span, "rate_limited");
            return Err(self
                .rate_limited(endpoint, None, format!("code {code}: {message}"))
                .await);
        }
        match classify(code) {
            Classification::Success => Ok(()),
            class => Err({
                record_error(&span, "vendor_error");
                VendorError::Vendor {
                    vendor: self.vendor,
                    endpoint,
                    code,
                    message,
                    class,
                }
            }),
        }
    }

    /// Decodes `body` (an answer of `endpoint`) as `T`.
    pub(crate) fn decode<T: serde::de::DeserializeOwned>(
        &self,
        endpoint: &'static str,
        body: &[u8],
    ) -> Result<T, VendorError> {
        serde_json::from_slice(body).map_err(|e| VendorError::Undecodable {
            vendor: self.vendor,
            endpoint,
            reason: e.to_string(),
            body: body_prefix(body),
        })
    }

    /// Decodes an already parsed `value` (the `data` of an answer) as `T`.
    pub(crate) fn decode_value<T: serde::de::DeserializeOwned>(
        &self,
        endpoint: &'static str,
        value: serde_json::Value,
    ) -> Result<T, VendorError> {
        let text = value.to_string();
        serde_json::from_value(value).map_err(|e| VendorError::Undecodable {
            vendor: self.vendor,
            endpoint,
            reason: e.to_string(),
            body: body_prefix(text.as_bytes()),
        })
    }

    /// Records a rate-limit answer with the limiter (every caller of this quota holds back)
    /// and returns the error for the caller.
    pub(crate) async fn rate_limited(
        &self,
        endpoint: &'static str,
        after: Option<Duration>,
        detail: String,
    ) -> VendorError {
        // Without `Retry-After`, hold back one quota window: the longest the vendor can mean.
        let after = after.unwrap_or(self.pause);
        self.limiter.penalize(self.key(endpoint), after).await;
        VendorError::RateLimited {
            vendor: self.vendor,
            endpoint,
            after,
            detail,
        }
    }
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("vendor", &self.vendor)
            .field("account", &self.account)
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

/// A transport error with its cause chain (reqwest's top-level message alone says little).
fn describe(e: &reqwest::Error) -> String {
    let mut out = if e.is_timeout() {
        "timed out".to_owned()
    } else {
        e.to_string()
    };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Seconds since the Unix epoch, for request timestamps.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Marks `span` failed with `error.type` (a low-cardinality class, never a message).
fn record_error(span: &tracing::Span, error_type: &str) {
    span.record("error.type", error_type);
    span.record("otel.status_code", "ERROR");
}
