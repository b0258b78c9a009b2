//! A SERVER span for every HTTP request the API answers, callbacks included (HTTP semantic
//! conventions: `{method} {route}` with the route template, never the path's ids or tokens),
//! continuing an incoming `traceparent`.

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use creel_queue::trace::StoredContext;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The middleware: `Router::layer(axum::middleware::from_fn(trace_request))`.
pub async fn trace_request(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let span = tracing::info_span!(
        "http request",
        otel.name = format!("{method} {route}"),
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        http.request.method = %method,
        http.route = %route,
        http.response.status_code = tracing::field::Empty,
        error.type = tracing::field::Empty,
    );
    let incoming = {
        let header = |name: &str| {
            request
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        StoredContext {
            traceparent: header("traceparent"),
            tracestate: header("tracestate"),
        }
    };
    if let Some(cx) = incoming.to_context() {
        let _ = span.set_parent(cx);
    }
    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status();
    span.record("http.response.status_code", i64::from(status.as_u16()));
    if status.is_server_error() {
        span.record("error.type", status.as_str());
        span.record("otel.status_code", "ERROR");
    }
    response
}
