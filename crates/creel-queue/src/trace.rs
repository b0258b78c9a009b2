//! W3C trace context carried by jobs: a job stores the context of the span that enqueued it
//! (`traceparent` + `tracestate`), and its steps link to (or continue) that trace. The OTel
//! spans themselves come from `tracing` spans through `tracing-opentelemetry`; when no OTel
//! layer is installed, spans carry no context and a caller's own `traceparent` is kept as given.

use std::collections::HashMap;

use opentelemetry::Context;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// A stored trace context: W3C `traceparent` and `tracestate` header values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredContext {
    /// `traceparent`, if there is a context.
    pub traceparent: Option<String>,
    /// `tracestate`, if it is not empty.
    pub tracestate: Option<String>,
}

impl StoredContext {
    /// The context a leased job was enqueued with.
    #[must_use]
    pub fn of_job(ctx: &crate::JobContext) -> Self {
        Self {
            traceparent: ctx.traceparent.clone(),
            tracestate: ctx.tracestate.clone(),
        }
    }

    /// The OTel context these headers describe (a remote parent), if they describe one.
    #[must_use]
    pub fn to_context(&self) -> Option<Context> {
        let mut carrier = HashMap::new();
        carrier.insert("traceparent".to_owned(), self.traceparent.clone()?);
        if let Some(ts) = &self.tracestate {
            carrier.insert("tracestate".to_owned(), ts.clone());
        }
        let cx = TraceContextPropagator::new().extract(&carrier);
        cx.span().span_context().is_valid().then_some(cx)
    }

    /// The headers of `span`'s OTel context, if it has a valid one (an OTel layer is installed
    /// and the span is enabled).
    #[must_use]
    pub fn of_span(span: &tracing::Span) -> Option<Self> {
        let cx = span.context();
        if !cx.span().span_context().is_valid() {
            return None;
        }
        let mut carrier: HashMap<String, String> = HashMap::new();
        TraceContextPropagator::new().inject_context(&cx, &mut carrier);
        Some(Self {
            traceparent: carrier.remove("traceparent"),
            tracestate: carrier.remove("tracestate").filter(|s| !s.is_empty()),
        })
    }

    /// Links the current span to this context (a callback that woke a step), if it is one.
    pub fn link_current(&self) {
        if let Some(cx) = self.to_context() {
            tracing::Span::current().add_link(cx.span().span_context().clone());
        }
    }

    /// The current span's context if it has one, else `self`: what a job enqueued from inside
    /// a step (a child delivery) should carry.
    #[must_use]
    pub fn current_or(self) -> Self {
        Self::of_span(&tracing::Span::current()).unwrap_or(self)
    }
}

/// The PRODUCER span of one enqueue, `send <queue>` (messaging conventions), whose parent is
/// the request's stored context if it has one, else the current span.
pub(crate) fn producer_span(queue: &str, given: &StoredContext) -> tracing::Span {
    let span = tracing::info_span!(
        "send",
        otel.name = format!("send {queue}"),
        otel.kind = "producer",
        messaging.system = "creel",
        messaging.operation.type = "send",
        messaging.operation.name = "send",
        messaging.destination.name = queue,
        messaging.message.id = tracing::field::Empty,
    );
    if let Some(cx) = given.to_context() {
        let _ = span.set_parent(cx);
    }
    span
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_traceparent_is_a_remote_parent_and_junk_is_none() {
        let stored = StoredContext {
            traceparent: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
            tracestate: Some("vendor=x".into()),
        };
        let cx = stored.to_context().expect("a context");
        let sc = cx.span().span_context().clone();
        assert_eq!(
            sc.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert!(sc.is_remote());
        assert_eq!(sc.trace_state().header(), "vendor=x");
        let junk = StoredContext {
            traceparent: Some("00-zz".into()),
            tracestate: None,
        };
        assert!(junk.to_context().is_none());
        assert!(StoredContext::default().to_context().is_none());
    }

    #[test]
    fn without_an_otel_layer_a_span_has_no_context() {
        assert!(StoredContext::of_span(&tracing::info_span!("x")).is_none());
    }
}
