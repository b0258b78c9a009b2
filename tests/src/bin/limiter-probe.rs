//! One process of a limiter fleet: `--callers` concurrent callers make Baijiayun calls
//! against the simulator through one `ClusterLimiter` until `--duration-ms` is over, then
//! print the limiter's counters as JSON. Run several at once to share one quota.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use creel_core::config::{LimiterConfig, QuotaConfig, Vendor, VendorAccount};
use creel_core::{CallLimiter, Secret};
use creel_limiter::ClusterLimiter;
use creel_vendors::{BaijiayunClient, Classification};

#[derive(Parser)]
struct Args {
    /// The Redis: a URL, or a cluster's node URLs joined by commas.
    #[arg(long)]
    redis: String,
    /// The simulator's Baijiayun base URL.
    #[arg(long)]
    base: String,
    #[arg(long)]
    partner_id: String,
    #[arg(long)]
    partner_key: String,
    #[arg(long)]
    requests: u32,
    #[arg(long)]
    window_ms: u64,
    #[arg(long)]
    margin_ms: Option<u64>,
    #[arg(long, default_value_t = 16)]
    callers: usize,
    #[arg(long)]
    duration_ms: u64,
    #[arg(long, default_value_t = 5_000)]
    horizon_ms: u64,
    #[arg(long, default_value = "creel")]
    prefix: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let mut account = VendorAccount::new(
        Vendor::Baijiayun,
        &a.partner_id,
        Secret::new(&a.partner_key),
    );
    account.base_url = Some(a.base.clone());
    account.timeout_ms = 5_000;
    account.quota = Some(QuotaConfig {
        margin_ms: a.margin_ms,
        ..QuotaConfig::new(a.requests, a.window_ms)
    });
    let name = "fleet".to_owned();
    let config = LimiterConfig {
        horizon_ms: a.horizon_ms,
        ..LimiterConfig::default()
    };
    let limiter = Arc::new(
        ClusterLimiter::connect(
            &creel_tests::test_redis::target_of(&a.redis),
            &a.prefix,
            [(&name, &account)],
            config,
        )
        .await?,
    );
    let shared: Arc<dyn CallLimiter> = limiter.clone();
    let client = BaijiayunClient::new(&name, &account, reqwest::Client::new(), shared)?;
    let deadline = Instant::now() + Duration::from_millis(a.duration_ms);
    let mut callers = tokio::task::JoinSet::new();
    for _ in 0..a.callers {
        let client = client.clone();
        callers.spawn(async move {
            while Instant::now() < deadline {
                let Err(e) = client.vod_status(1).await else {
                    continue;
                };
                let pause = match e.classification() {
                    // Not a call: the limiter said "later" (a rescheduled step) or failed closed.
                    Classification::RetryAfter(d) => d,
                    // The vendor answered (code 1 for an unknown video): the call was made.
                    _ => Duration::ZERO,
                };
                let left = deadline.saturating_duration_since(Instant::now());
                tokio::time::sleep(pause.min(left)).await;
            }
        });
    }
    while callers.join_next().await.is_some() {}
    let snapshot = limiter.metrics().snapshot();
    let m = snapshot.get(&name).cloned().unwrap_or_default();
    #[allow(clippy::print_stdout)]
    {
        println!("{}", serde_json::to_string(&m)?);
    }
    Ok(())
}
