//! A local OTLP/gRPC collector for `just bench-queue`'s telemetry round: it accepts every
//! span and metric export and throws them away. Prints `OTLP <endpoint>`, then serves until
//! killed.

use std::time::Duration;

use fake_opentelemetry_collector::FakeCollectorServer;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut collector = FakeCollectorServer::start()
        .await
        .map_err(|e| anyhow::format_err!("starting the collector: {e}"))?;
    say(&format!("OTLP {}", collector.endpoint()));
    loop {
        // Drain, so the exporters are never held back by a full channel.
        let spans = collector
            .exported_spans(1, Duration::from_millis(200))
            .await;
        let metrics = collector
            .exported_metrics(1, Duration::from_millis(1))
            .await;
        drop((spans, metrics));
    }
}

#[allow(clippy::print_stdout)]
fn say(line: &str) {
    println!("{line}");
}
