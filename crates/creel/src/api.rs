//! `creel api`: the HTTP API and the Redis-stream intake, until `stop` is cancelled.

use std::sync::Arc;

use creel_api::{ApiState, router};
use creel_core::{Config, RequestValidator};
use creel_jobs::Validator;
use creel_queue::Queue;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Serves the API on `listener` and runs the stream intake; both stop when `stop` is cancelled.
pub async fn serve(
    config: Arc<Config>,
    queue: Queue,
    listener: TcpListener,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    if config.api.tokens.is_empty() {
        tracing::warn!("api.tokens is empty: every authenticated route will answer 401");
    }
    let validator: Arc<dyn RequestValidator> = Arc::new(Validator::new(Arc::clone(&config)));
    let intake = tokio::spawn(crate::intake::run(
        queue.clone(),
        Arc::clone(&validator),
        stop.clone(),
    ));
    let callbacks = crate::callbacks::routes(Arc::clone(&config), queue.clone());
    let state = ApiState {
        queue,
        validator,
        tokens: Arc::new(config.api.tokens.clone()),
        max_body_bytes: config.api.max_body_bytes,
    };
    tracing::info!(addr = %listener.local_addr()?, "api listening");
    axum::serve(listener, router(state).merge(callbacks))
        .with_graceful_shutdown(stop.clone().cancelled_owned())
        .await?;
    let _ = intake.await;
    Ok(())
}
