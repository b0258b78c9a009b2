//! Vendor accounts (`accounts`): which vendor, its credentials and endpoints, its quota, and
//! the cluster-wide limiter's settings (`limiter`).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::Secret;
use super::error::{ConfigError, all_positive};

/// The vendors creel speaks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Vendor {
    /// Plaso (伯索): classroom export (`transferVideo`, `getVideoTask`).
    Plaso,
    /// Baijiayun (百家云): playback, pure video, VOD, dual-teacher.
    Baijiayun,
    /// WeClassroom (直播云): lessons and replays.
    Weclassroom,
}

impl Vendor {
    /// The name used in config, metrics and CLI arguments.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plaso => "plaso",
            Self::Baijiayun => "baijiayun",
            Self::Weclassroom => "weclassroom",
        }
    }
}

impl std::str::FromStr for Vendor {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "plaso" => Ok(Self::Plaso),
            "baijiayun" => Ok(Self::Baijiayun),
            "weclassroom" => Ok(Self::Weclassroom),
            other => Err(format!(
                "unknown vendor {other:?} (plaso, baijiayun or weclassroom)"
            )),
        }
    }
}

impl fmt::Display for Vendor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A vendor account: which vendor, its credentials and where to reach it. Endpoint paths,
/// quotas and Plaso's request encoding have documented defaults in `creel-vendors`; the fields
/// here override them (the simulator, a private domain, a path the vendor moved). Settings only
/// one vendor takes are grouped under that vendor's name (`[accounts.<name>.plaso]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "VendorAccountWire", into = "VendorAccountWire")]
pub struct VendorAccount {
    /// `plaso`, `baijiayun` or `weclassroom`.
    pub vendor: Vendor,
    /// The account's id at the vendor (Plaso `appId`, Baijiayun `partner_id`, WeClassroom
    /// `applicationID`).
    pub id: String,
    /// Its signing secret (Plaso app secret, Baijiayun `partner_key`, WeClassroom's 32-byte
    /// key).
    pub secret: Secret,
    /// Base URL override (the simulator, a Baijiayun private domain
    /// `https://<domain>.at.baijiayun.com`).
    pub base_url: Option<String>,
    /// Endpoint path overrides by endpoint name (see the README's vendor tables).
    pub paths: BTreeMap<String, String>,
    /// Per-call timeout, in milliseconds.
    pub timeout_ms: u64,
    /// The account's request quota; default: [`Vendor::default_quota`].
    pub quota: Option<QuotaConfig>,
    /// Vendor answer codes that mean "rate limited" (besides HTTP 429/503), since the vendors
    /// do not document one.
    pub rate_limit_codes: Vec<i64>,
    /// Plaso's own settings (at their defaults for the other vendors, which take none).
    pub plaso: PlasoSettings,
}

/// The settings only a Plaso account takes: `[accounts.<name>.plaso]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlasoSettings {
    /// How requests are sent: `json` (POST, JSON body; the default), `form` (POST, form body)
    /// or `query` (GET, query string).
    pub encoding: Option<RequestEncoding>,
    /// Lifetime of a signature (`validTime`), in seconds.
    pub valid_time_secs: u64,
    /// How far in the past `validBegin` starts, for clock skew, in seconds.
    pub clock_skew_secs: u64,
    /// The unguessable token in this account's callback URL (`/callbacks/plaso/<token>`);
    /// Plaso callbacks are unsigned, so the token is what authenticates them.
    pub callback_token: Option<Secret>,
}

impl Default for PlasoSettings {
    fn default() -> Self {
        Self {
            encoding: None,
            valid_time_secs: default_valid_time_secs(),
            clock_skew_secs: default_clock_skew_secs(),
            callback_token: None,
        }
    }
}

/// [`VendorAccount`] as written: Plaso's settings in `plaso`, or (the form before they were
/// grouped, still read) at the account's top level.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct VendorAccountWire {
    vendor: Vendor,
    id: String,
    secret: Secret,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    base_url: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    paths: BTreeMap<String, String>,
    #[serde(default = "default_vendor_timeout_ms")]
    timeout_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    quota: Option<QuotaConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    rate_limit_codes: Vec<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    plaso: Option<PlasoSettings>,
    // The ungrouped form of `plaso`'s fields.
    #[serde(default, skip_serializing)]
    encoding: Option<RequestEncoding>,
    #[serde(default, skip_serializing)]
    valid_time_secs: Option<u64>,
    #[serde(default, skip_serializing)]
    clock_skew_secs: Option<u64>,
    #[serde(default, skip_serializing)]
    callback_token: Option<Secret>,
}

impl TryFrom<VendorAccountWire> for VendorAccount {
    type Error = String;

    fn try_from(w: VendorAccountWire) -> Result<Self, String> {
        let ungrouped = w.encoding.is_some()
            || w.valid_time_secs.is_some()
            || w.clock_skew_secs.is_some()
            || w.callback_token.is_some();
        if ungrouped && w.plaso.is_some() {
            return Err(
                "give Plaso's settings in `plaso` only, not also at the account's top \
                        level (encoding, valid_time_secs, clock_skew_secs, callback_token)"
                    .to_owned(),
            );
        }
        if (ungrouped || w.plaso.is_some()) && w.vendor != Vendor::Plaso {
            return Err(format!(
                "plaso: a {} account takes no Plaso settings (encoding, valid_time_secs, \
                 clock_skew_secs, callback_token)",
                w.vendor
            ));
        }
        let defaults = PlasoSettings::default();
        let plaso = w.plaso.unwrap_or(PlasoSettings {
            encoding: w.encoding,
            valid_time_secs: w.valid_time_secs.unwrap_or(defaults.valid_time_secs),
            clock_skew_secs: w.clock_skew_secs.unwrap_or(defaults.clock_skew_secs),
            callback_token: w.callback_token,
        });
        Ok(Self {
            vendor: w.vendor,
            id: w.id,
            secret: w.secret,
            base_url: w.base_url,
            paths: w.paths,
            timeout_ms: w.timeout_ms,
            quota: w.quota,
            rate_limit_codes: w.rate_limit_codes,
            plaso,
        })
    }
}

impl From<VendorAccount> for VendorAccountWire {
    fn from(a: VendorAccount) -> Self {
        let plaso = (a.vendor == Vendor::Plaso).then_some(a.plaso);
        Self {
            vendor: a.vendor,
            id: a.id,
            secret: a.secret,
            base_url: a.base_url,
            paths: a.paths,
            timeout_ms: a.timeout_ms,
            quota: a.quota,
            rate_limit_codes: a.rate_limit_codes,
            plaso,
            encoding: None,
            valid_time_secs: None,
            clock_skew_secs: None,
            callback_token: None,
        }
    }
}

/// How a request's parameters travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestEncoding {
    /// POST with a JSON body.
    Json,
    /// POST with an `application/x-www-form-urlencoded` body.
    Form,
    /// GET with the parameters in the query string.
    Query,
}

/// A request quota: at most `requests` calls in any sliding `window_ms`, across every replica.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaConfig {
    /// Calls allowed per window.
    pub requests: u32,
    /// The sliding window, in milliseconds.
    pub window_ms: u64,
    /// Safety margin added to the window when spacing calls (absorbs the spread of network
    /// delays); default 1% of the window, at least 20 ms.
    #[serde(default)]
    pub margin_ms: Option<u64>,
    /// Sub-quotas of single endpoints (by endpoint name), on top of the account's.
    #[serde(default)]
    pub endpoints: BTreeMap<String, EndpointQuota>,
    /// At most this many calls of this account in flight at once in one process.
    #[serde(default)]
    pub max_concurrent: Option<u32>,
}

/// A sub-quota of one endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointQuota {
    /// Calls allowed per window.
    pub requests: u32,
    /// The sliding window, in milliseconds.
    pub window_ms: u64,
}

impl QuotaConfig {
    /// `requests` per `window_ms` with the default margin and no sub-quotas.
    #[must_use]
    pub fn new(requests: u32, window_ms: u64) -> Self {
        Self {
            requests,
            window_ms,
            margin_ms: None,
            endpoints: BTreeMap::new(),
            max_concurrent: None,
        }
    }

    /// The margin in force.
    #[must_use]
    pub fn margin_ms(&self) -> u64 {
        self.margin_ms.unwrap_or((self.window_ms / 100).max(20))
    }

    /// Checks what serde cannot: positive counts and windows.
    pub fn validate(&self) -> Result<(), ConfigError> {
        all_positive(
            "quota",
            &[
                ("requests", u64::from(self.requests)),
                ("window_ms", self.window_ms),
            ],
        )?;
        for (name, e) in &self.endpoints {
            all_positive(
                &format!("quota.endpoints.{name}"),
                &[
                    ("requests", u64::from(e.requests)),
                    ("window_ms", e.window_ms),
                ],
            )?;
        }
        if self.max_concurrent == Some(0) {
            return Err(ConfigError::invalid(
                "quota.max_concurrent",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

impl Vendor {
    /// The quota an account of this vendor gets unless its config says otherwise: Baijiayun's
    /// documented 200 per 10 s; Plaso and WeClassroom document none, so a conservative 50 per
    /// 10 s.
    #[must_use]
    pub fn default_quota(self) -> QuotaConfig {
        match self {
            Self::Baijiayun => QuotaConfig::new(200, 10_000),
            Self::Plaso | Self::Weclassroom => QuotaConfig::new(50, 10_000),
        }
    }
}

impl VendorAccount {
    /// The quota in force: the configured one or the vendor's default.
    #[must_use]
    pub fn effective_quota(&self) -> QuotaConfig {
        self.quota
            .clone()
            .unwrap_or_else(|| self.vendor.default_quota())
    }
}

/// The cluster-wide rate limiter.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimiterConfig {
    /// The longest a call waits for its slot while holding a worker; a longer wait gives the
    /// slot back and reschedules the step (`RetryAfter`), in milliseconds.
    pub horizon_ms: u64,
    /// How long a call waits for Redis before failing closed, in milliseconds.
    pub redis_timeout_ms: u64,
    /// After failing closed (Redis unreachable), retry the step this much later, in
    /// milliseconds.
    pub fail_closed_retry_ms: u64,
    /// How many quota reservations one process may ask Redis for per second, per account
    /// (default: four times the account's rate, at least 10).
    pub local_asks_per_sec: Option<u32>,
}

impl Default for LimiterConfig {
    fn default() -> Self {
        Self {
            horizon_ms: 5_000,
            redis_timeout_ms: 1_000,
            fail_closed_retry_ms: 1_000,
            local_asks_per_sec: None,
        }
    }
}

fn default_vendor_timeout_ms() -> u64 {
    30_000
}

fn default_valid_time_secs() -> u64 {
    300
}

fn default_clock_skew_secs() -> u64 {
    5
}

impl VendorAccount {
    /// An account of `vendor` with every optional field at its default.
    pub fn new(vendor: Vendor, id: impl Into<String>, secret: Secret) -> Self {
        Self {
            vendor,
            id: id.into(),
            secret,
            base_url: None,
            paths: BTreeMap::new(),
            timeout_ms: default_vendor_timeout_ms(),
            quota: None,
            rate_limit_codes: Vec::new(),
            plaso: PlasoSettings::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(toml_text: &str) -> Result<VendorAccount, String> {
        toml::from_str(toml_text).map_err(|e| e.to_string())
    }

    #[test]
    fn plaso_settings_are_grouped_and_the_old_form_still_reads() {
        let grouped = account(
            "vendor = \"plaso\"\nid = \"a\"\nsecret = \"s\"\n[plaso]\nvalid_time_secs = 60\ncallback_token = \"t\"\n",
        )
        .expect("grouped");
        let flat = account(
            "vendor = \"plaso\"\nid = \"a\"\nsecret = \"s\"\nvalid_time_secs = 60\ncallback_token = \"t\"\n",
        )
        .expect("the old form");
        assert_eq!(grouped.plaso, flat.plaso);
        assert_eq!(grouped.plaso.valid_time_secs, 60);
        assert_eq!(grouped.plaso.clock_skew_secs, 5, "the default");
        // Written back, the settings are grouped.
        let text = toml::to_string(&flat).expect("serializes");
        assert!(text.contains("[plaso]"), "{text}");
    }

    #[test]
    fn plaso_settings_elsewhere_are_refused() {
        let err = account(
            "vendor = \"baijiayun\"\nid = \"a\"\nsecret = \"s\"\n[plaso]\nvalid_time_secs = 60\n",
        )
        .expect_err("not a plaso account");
        assert!(err.contains("plaso: a baijiayun account"), "{err}");
        let err = account(
            "vendor = \"plaso\"\nid = \"a\"\nsecret = \"s\"\nencoding = \"form\"\n[plaso]\nvalid_time_secs = 60\n",
        )
        .expect_err("both forms");
        assert!(err.contains("in `plaso` only"), "{err}");
        assert!(
            account("vendor = \"plaso\"\nid = \"a\"\nsecret = \"s\"\nvalid_tme_secs = 1\n")
                .is_err()
        );
    }
}
