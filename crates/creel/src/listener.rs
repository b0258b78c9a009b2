//! The HTTP listener of `creel api` (the API and the vendor callbacks), with the bounds that
//! `axum::serve` does not set: a connection must send a request's header within
//! `header_read_timeout_ms`, a request must be answered (its body read included) within
//! `request_timeout_ms` (408 otherwise), at most `max_connections` sockets are open (further
//! ones wait in the kernel's backlog) and `max_concurrent_requests` are answered at once, and a
//! keep-alive connection closes `connection_max_age_ms` after it opened.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use creel_core::config::HttpLimits;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower::Layer;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower_http::timeout::TimeoutLayer;

/// Serves `app` on `listener` within `limits` until `stop` is cancelled; then stops accepting,
/// lets requests in flight finish (within the request timeout) and returns.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: &HttpLimits,
    stop: CancellationToken,
) -> std::io::Result<()> {
    let request_timeout = Duration::from_millis(limits.request_timeout_ms);
    let header_timeout = Duration::from_millis(limits.header_read_timeout_ms);
    let max_age = Duration::from_millis(limits.connection_max_age_ms);
    let service = TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, request_timeout)
        .layer(GlobalConcurrencyLimitLayer::new(limits.max_concurrent_requests).layer(app));
    let max_connections = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let connections = Arc::new(Semaphore::new(max_connections as usize));
    loop {
        let permit = tokio::select! {
            () = stop.cancelled() => break,
            p = Arc::clone(&connections).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let service = TowerToHyperService::new(service.clone());
        let stop = stop.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .keep_alive(true);
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => return,
                () = tokio::time::sleep(max_age) => {}
                () = stop.cancelled() => {}
            }
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(request_timeout, conn).await;
        });
    }
    // Wait for the open connections to finish (each is bounded by the request timeout).
    let _ = tokio::time::timeout(
        request_timeout + Duration::from_secs(1),
        connections.acquire_many(max_connections),
    )
    .await;
    Ok(())
}
