//! `creel api`: the HTTP API and the Redis-stream intake, until `stop` is cancelled.

use std::sync::Arc;

use axum::response::IntoResponse;

use creel_api::{ApiState, CallbackState, Tokens, callback_routes, router};
use creel_core::{Config, RequestValidator};
use creel_jobs::Validator;
use creel_jobs::callbacks::CallbackRouting;
use creel_queue::Queue;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::telemetry::MetricsHandle;

/// Serves the API (and `/metrics`, from `metrics`) on `listener`, runs the stream intake and
/// reads the queue gauges; all stop when `stop` is cancelled.
pub async fn serve(
    config: Arc<Config>,
    queue: Queue,
    listener: TcpListener,
    metrics: MetricsHandle,
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
    let callbacks = callback_routes(CallbackState {
        config: Arc::clone(&config),
        queue: queue.clone(),
        listener: Arc::new(CallbackRouting::new(Arc::clone(&config))),
        validator: Arc::clone(&validator),
    });
    let state = ApiState {
        queue,
        validator,
        tokens: Tokens::new(&config.api.tokens),
        max_body_bytes: config.api.max_body_bytes,
        accounts: Arc::new(config.accounts.keys().cloned().collect()),
        costs: Arc::new(config.costs.clone()),
    };
    tracing::info!(addr = %listener.local_addr()?, "api listening");
    let gauges = metrics.meter().map(|meter| {
        tokio::spawn(crate::queue_gauges::run(
            meter.clone(),
            state.queue.clone(),
            crate::queue_gauges::GaugeSources::of(&config),
            stop.clone(),
        ))
    });
    let app = router(state)
        .merge(callbacks)
        .merge(metrics_route(metrics))
        .layer(axum::middleware::from_fn(crate::http_trace::trace_request));
    crate::listener::serve(listener, app, &config.api.limits, stop.clone()).await?;
    let _ = intake.await;
    if let Some(g) = gauges {
        let _ = g.await;
    }
    Ok(())
}

/// `GET /metrics`: the process's metrics as Prometheus text (404 when it serves none).
pub fn metrics_route(metrics: MetricsHandle) -> axum::Router {
    axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let text = metrics.render();
            async move {
                match text {
                    Some(body) => (
                        axum::http::StatusCode::OK,
                        [(
                            axum::http::header::CONTENT_TYPE,
                            "text/plain; version=0.0.4; charset=utf-8",
                        )],
                        body,
                    )
                        .into_response(),
                    None => axum::http::StatusCode::NOT_FOUND.into_response(),
                }
            }
        }),
    )
}
