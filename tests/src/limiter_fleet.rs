//! A limiter fleet for the accuracy tests and `just bench-limiter`: a private Redis, the vendor
//! simulator enforcing the same quota, and N `limiter-probe` processes sharing it.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use creel_core::config::{QuotaConfig, Vendor};
use creel_limiter::AccountMetrics;
use creel_sim::{RunningSim, SimAccount, SimConfig};

use crate::vendor_sim::{BJY_KEY, BJY_PARTNER};

/// The shape of one run.
#[derive(Debug, Clone, Copy)]
pub struct FleetParams {
    /// Calls per window.
    pub requests: u32,
    /// The window, in milliseconds.
    pub window_ms: u64,
    /// The margin, in milliseconds (default: the limiter's).
    pub margin_ms: Option<u64>,
    /// Processes.
    pub processes: usize,
    /// Concurrent callers per process.
    pub callers: usize,
    /// How long the callers call, in milliseconds.
    pub duration_ms: u64,
    /// The limiter's horizon, in milliseconds.
    pub horizon_ms: u64,
}

/// Redis and the simulator, up.
#[derive(Debug)]
pub struct Fleet {
    /// The Redis the limiter uses.
    pub redis: crate::TestRedis,
    /// The simulator, enforcing `requests` per sliding `window_ms` itself.
    pub sim: RunningSim,
    params: FleetParams,
}

/// What the simulator saw and the probes counted.
#[derive(Debug, Clone)]
pub struct FleetReport {
    /// Most requests in any sliding window.
    pub max_window: usize,
    /// Requests the simulator refused as over quota.
    pub refused: usize,
    /// Arrival times (ms since the simulator started) of the Baijiayun requests.
    pub arrivals: Vec<u64>,
    /// Each probe's counters.
    pub probes: Vec<AccountMetrics>,
}

impl FleetReport {
    /// Requests in `[from_ms, to_ms)` divided by what the quota allows in that span.
    #[must_use]
    pub fn utilization(&self, from_ms: u64, to_ms: u64, params: &FleetParams) -> f64 {
        let n = self
            .arrivals
            .iter()
            .filter(|t| (from_ms..to_ms).contains(*t))
            .count();
        let allowed =
            (to_ms - from_ms) as f64 * f64::from(params.requests) / params.window_ms as f64;
        n as f64 / allowed
    }

    /// The sum of a counter over the probes.
    pub fn total(&self, f: impl Fn(&AccountMetrics) -> u64) -> u64 {
        self.probes.iter().map(f).sum()
    }
}

impl Fleet {
    /// Starts Redis and a simulator enforcing the quota of `params`.
    pub async fn start(params: FleetParams) -> Self {
        let redis = crate::TestRedis::start();
        let mut account = SimAccount::new(Vendor::Baijiayun, BJY_PARTNER, BJY_KEY);
        account.quota = Some(QuotaConfig::new(params.requests, params.window_ms));
        let config = SimConfig {
            accounts: vec![account],
            ..SimConfig::default()
        };
        let sim = crate::vendor_sim::start(config).await;
        Self { redis, sim, params }
    }

    /// Starts the probe processes (`probe` is the `limiter-probe` executable).
    #[must_use]
    pub fn spawn(&self, probe: &Path) -> Vec<Child> {
        let p = self.params;
        (0..p.processes)
            .map(|_| {
                let mut cmd = Command::new(probe);
                cmd.args(["--redis", &self.redis.spec()])
                    .args(["--base", &self.sim.vendor_base(Vendor::Baijiayun)])
                    .args(["--partner-id", BJY_PARTNER, "--partner-key", BJY_KEY])
                    .args(["--requests", &p.requests.to_string()])
                    .args(["--window-ms", &p.window_ms.to_string()])
                    .args(["--callers", &p.callers.to_string()])
                    .args(["--duration-ms", &p.duration_ms.to_string()])
                    .args(["--horizon-ms", &p.horizon_ms.to_string()]);
                if let Some(m) = p.margin_ms {
                    cmd.args(["--margin-ms", &m.to_string()]);
                }
                cmd.stdout(Stdio::piped())
                    .stderr(Stdio::inherit())
                    .spawn()
                    .unwrap_or_else(|e| panic!("starting {}: {e}", probe.display()))
            })
            .collect()
    }

    /// Waits for the probes and reads what the simulator saw.
    pub async fn finish(&self, children: Vec<Child>) -> FleetReport {
        let probes = tokio::task::spawn_blocking(move || {
            children
                .into_iter()
                .map(|c| {
                    let out = c
                        .wait_with_output()
                        .unwrap_or_else(|e| panic!("probe: {e}"));
                    assert!(out.status.success(), "a probe failed: {}", out.status);
                    serde_json::from_slice::<AccountMetrics>(&out.stdout).unwrap_or_else(|e| {
                        panic!(
                            "probe output: {e}: {}",
                            String::from_utf8_lossy(&out.stdout)
                        )
                    })
                })
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_else(|e| panic!("joining probes: {e}"));
        let log: Vec<_> = self
            .sim
            .sim
            .requests()
            .into_iter()
            .filter(|r| r.vendor == "baijiayun")
            .collect();
        FleetReport {
            max_window: self.sim.sim.window_max(
                Vendor::Baijiayun,
                BJY_PARTNER,
                self.params.window_ms,
            ),
            refused: log.iter().filter(|r| r.outcome == "rate_limited").count(),
            arrivals: log.iter().map(|r| r.at_ms).collect(),
            probes,
        }
    }

    /// How long to wait after the probes start for a cold-start window to pass.
    #[must_use]
    pub fn cold_start(&self) -> Duration {
        Duration::from_millis(self.params.window_ms + self.params.margin_ms.unwrap_or(20))
    }
}
