//! `creel api`: the HTTP API and the Redis-stream intake, until `stop` is cancelled.

use std::sync::Arc;

use creel_api::{ApiState, Tokens, router};
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
        config.api.stream_principal.clone(),
        stop.clone(),
    ));
    let callbacks = crate::callbacks::routes(Arc::clone(&config), queue.clone());
    let state = ApiState {
        queue,
        validator,
        tokens: Tokens::new(&config.api.tokens),
        max_body_bytes: config.api.max_body_bytes,
    };
    tracing::info!(addr = %listener.local_addr()?, "api listening");
    let app = router(state)
        .merge(callbacks)
        .layer(axum::middleware::from_fn(crate::http_trace::trace_request));
    crate::listener::serve(listener, app, &config.api.limits, stop.clone()).await?;
    let _ = intake.await;
    Ok(())
}
