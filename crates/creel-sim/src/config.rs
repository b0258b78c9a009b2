//! What the simulator simulates: its accounts and quotas, how fast vendor time runs, how long
//! each task status lasts, how big the videos are and when their URLs expire.

use std::time::Duration;

use creel_core::config::{QuotaConfig, Vendor};
use serde::{Deserialize, Serialize};

/// One simulated vendor account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimAccount {
    /// Which vendor.
    pub vendor: Vendor,
    /// Its id (Plaso `appId`, Baijiayun `partner_id`, WeClassroom `applicationID`).
    pub id: String,
    /// Its secret.
    pub secret: String,
    /// Its quota; default: Baijiayun's documented 200 per 10 s, none for the others.
    #[serde(default)]
    pub quota: Option<QuotaConfig>,
    /// Where Plaso sends this account's result callbacks (configured with Plaso, not per call).
    #[serde(default)]
    pub callback_url: Option<String>,
}

impl SimAccount {
    /// An account with the vendor's default quota and no callback URL.
    pub fn new(vendor: Vendor, id: impl Into<String>, secret: impl Into<String>) -> Self {
        Self {
            vendor,
            id: id.into(),
            secret: secret.into(),
            quota: None,
            callback_url: None,
        }
    }

    /// The quota in force.
    #[must_use]
    pub fn effective_quota(&self) -> Option<QuotaConfig> {
        self.quota.clone().or(match self.vendor {
            Vendor::Baijiayun => Some(QuotaConfig::new(200, 10_000)),
            Vendor::Plaso | Vendor::Weclassroom => None,
        })
    }
}

/// How the simulator answers a request over quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitAnswer {
    /// The HTTP status (429 by default; 200 to answer with `code` in the vendor's envelope,
    /// the way an undocumented vendor limit may look).
    pub http_status: u16,
    /// The vendor code in the envelope.
    pub code: i64,
}

impl Default for RateLimitAnswer {
    fn default() -> Self {
        Self {
            http_status: 429,
            code: 429,
        }
    }
}

/// The simulator's settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimConfig {
    /// How many times faster than real time vendor time runs.
    pub speed: f64,
    /// The accounts.
    pub accounts: Vec<SimAccount>,
    /// How long each intermediate task status lasts, in vendor seconds.
    pub step_secs: u64,
    /// Size of every generated video, in bytes.
    pub video_bytes: u64,
    /// Lifetime of VOD `getUrl` URLs, in vendor seconds (12 h at the vendor).
    pub vod_url_ttl_secs: u64,
    /// Lifetime of pure-video URLs (API 20, 39), in vendor seconds (30 days at the vendor).
    pub pure_video_url_ttl_secs: u64,
    /// The answer to a request over quota.
    pub rate_limit: RateLimitAnswer,
    /// How far a Plaso `validBegin` may be in the future, in seconds.
    pub plaso_clock_tolerance_secs: u64,
    /// What Baijiayun API 19's `success_fids` name: the document calls them source video
    /// fids while its example looks like a session id; both readings are offered.
    pub success_fids: FidReading,
    /// Every this many vendor seconds each Baijiayun account gets a new VOD video (uploaded
    /// and transcoding), listed by `getVideoList`: lessons that keep coming while a backfill
    /// walks the list. `None`: only the videos a test adds.
    pub new_vod_every_secs: Option<u64>,
    /// The monthly traffic package every Baijiayun account has (`getAccountInfo`'s
    /// `month_flow_limit`), in bytes.
    pub vod_month_flow_limit: u64,
}

/// What Baijiayun API 19's `success_fids` hold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FidReading {
    /// The session ids of the playbacks (what the document's example looks like).
    #[default]
    SessionIds,
    /// The playbacks' video ids ("回放源视频 fid").
    VideoIds,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            speed: 1.0,
            accounts: Vec::new(),
            step_secs: 60,
            video_bytes: 4 << 20,
            vod_url_ttl_secs: 12 * 3600,
            pure_video_url_ttl_secs: 30 * 24 * 3600,
            rate_limit: RateLimitAnswer::default(),
            plaso_clock_tolerance_secs: 60,
            success_fids: FidReading::default(),
            new_vod_every_secs: None,
            vod_month_flow_limit: 10 << 30,
        }
    }
}

impl SimConfig {
    /// The duration of one intermediate status, in vendor time.
    #[must_use]
    pub fn step(&self) -> Duration {
        Duration::from_secs(self.step_secs)
    }
}
