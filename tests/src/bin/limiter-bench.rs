//! `just bench-limiter`: Baijiayun's full quota, 200 calls per sliding 10 s, shared by 4
//! `limiter-probe` processes × 16 callers for 40 s against the vendor simulator. Prints the
//! busiest window, the steady-state utilisation and Redis round trips per permit.

use std::time::Duration;

use creel_tests::limiter_fleet::{Fleet, FleetParams};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let seconds: u64 = std::env::args().nth(1).map_or(Ok(40), |s| s.parse())?;
    let probe = std::env::current_exe()?
        .parent()
        .ok_or_else(|| anyhow::format_err!("no directory for the probe"))?
        .join("limiter-probe");
    let params = FleetParams {
        requests: 200,
        window_ms: 10_000,
        margin_ms: None,
        processes: 4,
        callers: 16,
        duration_ms: seconds * 1_000,
        horizon_ms: 5_000,
    };
    let fleet = Fleet::start(params).await;
    eprintln!(
        "limiter bench: 200 / 10 s, 4 processes x 16 callers, {seconds} s (the first {:?} is the cold-start window)",
        fleet.cold_start()
    );
    let children = fleet.spawn(&probe);
    let report = fleet.finish(children).await;
    let first = *report
        .arrivals
        .first()
        .ok_or_else(|| anyhow::format_err!("no calls"))?;
    let last = *report.arrivals.last().unwrap_or(&first);
    let utilization = report.utilization(first, last + 1, &params);
    let permits = report.total(|m| m.permits);
    let redis_calls = report.total(|m| m.redis_calls);
    eprintln!(
        "calls {} (refused by the vendor: {}), permits {permits}, redis calls {redis_calls}, reschedules {}, late slots {}, steady-state span {:?}",
        report.arrivals.len(),
        report.refused,
        report.total(|m| m.reschedules),
        report.total(|m| m.late_slots),
        Duration::from_millis(last - first)
    );
    #[allow(clippy::print_stdout)]
    {
        println!(
            "RESULT limiter_max_window={} limit=200 utilization={utilization:.3} redis_calls_per_permit={:.3}",
            report.max_window,
            redis_calls as f64 / permits.max(1) as f64
        );
    }
    Ok(())
}
