//! W3C trace context carried by jobs: a job stores the context of the span that enqueued it
//! (`traceparent` + `tracestate`), and its steps link to (or continue) that trace. The OTel
//! spans themselves come from `tracing` spans through `tracing-opentelemetry`; when no OTel
//! layer is installed, spans carry no context and a caller's own `traceparent` is kept as given.

use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
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
        self.traceparent.as_ref()?;
        let cx = TraceContextPropagator::new().extract(self);
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
        let mut headers = Self::default();
        TraceContextPropagator::new().inject_context(&cx, &mut headers);
        Some(headers)
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

/// The propagator reads the headers straight from the stored strings (a step's span is made
/// for every job: no map per job).
impl Extractor for StoredContext {
    fn get(&self, key: &str) -> Option<&str> {
        match key {
            "traceparent" => self.traceparent.as_deref(),
            "tracestate" => self.tracestate.as_deref(),
            _ => None,
        }
    }

    fn keys(&self) -> Vec<&str> {
        vec!["traceparent", "tracestate"]
    }
}

/// The propagator writes the headers into the stored strings (an empty `tracestate` is none).
impl Injector for StoredContext {
    fn set(&mut self, key: &str, value: String) {
        match key {
            "traceparent" => self.traceparent = Some(value),
            "tracestate" => self.tracestate = Some(value).filter(|v| !v.is_empty()),
            _ => {}
        }
    }
}

/// The PRODUCER span of one enqueue call for one queue and one given context, `send <queue>`
/// (messaging conventions): its parent is the given context if there is one, else the
/// current span. One job is a single-message send (`messaging.message.id`); more are a batch
/// (`messaging.batch.message_count`), every job carrying the span's context.
pub(crate) struct BatchSend {
    /// The context the requests came with.
    pub(crate) given: StoredContext,
    /// The context the jobs store: the span's, or `given` when spans carry none.
    pub(crate) stored: StoredContext,
    span: tracing::Span,
    first_id: Option<String>,
    count: u64,
}

impl BatchSend {
    /// Opens the span for requests that came with `given`.
    pub(crate) fn open(queue: &str, given: StoredContext) -> Self {
        let span = tracing::info_span!(
            "send",
            otel.name = format!("send {queue}"),
            otel.kind = "producer",
            messaging.system = "creel",
            messaging.operation.type = "send",
            messaging.operation.name = "send",
            messaging.destination.name = queue,
            messaging.message.id = tracing::field::Empty,
            messaging.batch.message_count = tracing::field::Empty,
        );
        if let Some(cx) = given.to_context() {
            let _ = span.set_parent(cx);
        }
        let stored = StoredContext::of_span(&span).unwrap_or_else(|| given.clone());
        Self {
            given,
            stored,
            span,
            first_id: None,
            count: 0,
        }
    }

    /// Counts one more job in this send.
    pub(crate) fn add(&mut self, id: &str) {
        self.count += 1;
        if self.count == 1 {
            self.first_id = Some(id.to_owned());
        }
    }
}

impl Drop for BatchSend {
    /// Records what was sent as the span closes.
    fn drop(&mut self) {
        if self.count == 1 {
            if let Some(id) = &self.first_id {
                self.span.record("messaging.message.id", id.as_str());
            }
        } else {
            self.span
                .record("messaging.batch.message_count", self.count);
        }
    }
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
