//! `creel worker` as a test process (the same `creel::worker::run` the binary runs), for tests
//! that kill -9 a worker: `creel-worker <config.toml>`.

use std::sync::Arc;

use creel_queue::Queue;
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let path = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::format_err!("usage: creel-worker <config.toml>"))?;
    let config = Arc::new(creel::settings::load(Some(std::path::Path::new(&path)))?);
    let queue = Queue::connect(creel::settings::queue_config(&config)).await?;
    let stop = CancellationToken::new();
    let s = stop.clone();
    tokio::spawn(async move {
        creel::shutdown::signal().await;
        s.cancel();
    });
    creel::worker::run(config, queue, stop).await
}
