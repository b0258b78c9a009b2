//! `creel sim`: the vendor simulator as a standalone server, with demo accounts and sample
//! data unless a simulator config file says otherwise, and the `[accounts]` config that points
//! creel at it.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context;
use creel_core::config::Vendor;
use creel_sim::{SimConfig, Simulator};

/// Reads a simulator config (TOML, the fields of [`SimConfig`]) or returns the demo one.
pub fn load_config(file: Option<&Path>) -> anyhow::Result<SimConfig> {
    match file {
        None => Ok(creel_sim::demo_config()),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
        }
    }
}

/// The creel `[accounts.*]` TOML that points at a simulator serving on `base`.
#[must_use]
pub fn accounts_toml(config: &SimConfig, base: &str) -> String {
    let mut out = String::new();
    for a in &config.accounts {
        let vendor = a.vendor.as_str();
        out.push_str(&format!(
            "[accounts.sim-{vendor}-{id}]\nvendor = \"{vendor}\"\nid = \"{id}\"\nsecret = \"{secret}\"\nbase_url = \"{base}/{vendor}\"\n",
            id = a.id,
            secret = a.secret,
        ));
        if a.vendor == Vendor::Plaso {
            out.push_str(&format!(
                "[accounts.sim-{vendor}-{id}.plaso]\ncallback_token = \"change-me\"\n",
                id = a.id
            ));
        }
        out.push('\n');
    }
    out
}

/// Serves the simulator on `listen` until SIGTERM/SIGINT.
pub async fn run(
    listen: SocketAddr,
    config: SimConfig,
    stop: tokio_util::sync::CancellationToken,
) -> anyhow::Result<()> {
    let seeded = config.accounts == creel_sim::demo_config().accounts;
    let sim = Simulator::new(config.clone());
    if seeded {
        sim.seed_demo();
    }
    let running = sim
        .serve(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    eprintln!("creel sim serving on {}", running.base);
    eprintln!(
        "inspect: {0}/_sim/requests  {0}/_sim/tasks  {0}/_sim/submissions  {0}/_sim/callbacks",
        running.base
    );
    eprintln!(
        "# accounts for creel's config:\n{}",
        accounts_toml(&config, &running.base)
    );
    stop.cancelled().await;
    Ok(())
}
