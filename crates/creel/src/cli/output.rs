//! What the commands print (text, or JSON with `--json`), and the stop signal they share.

use tokio_util::sync::CancellationToken;

pub(crate) fn stop_on_signal() -> CancellationToken {
    let stop = CancellationToken::new();
    let s = stop.clone();
    tokio::spawn(async move {
        creel::shutdown::signal().await;
        tracing::info!("shutdown signal received");
        s.cancel();
    });
    stop
}

pub(crate) fn print_value(json: bool, value: &serde_json::Value, text: &str) {
    if json {
        out(&value.to_string());
    } else {
        out(text);
    }
}

#[allow(clippy::print_stdout)]
pub(crate) fn out(line: &str) {
    println!("{line}");
}
