//! A local OTLP/gRPC collector for `just bench-queue`'s telemetry round: the protocol's own
//! trace and metrics services, which count the spans they receive and throw everything away
//! (decoding only: a real collector runs on another machine, and this one shares the bench's
//! two cores). Prints `OTLP <endpoint>`, then `SPANS <total so far>` whenever the total
//! changes, and serves until killed.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tonic::{Request, Response, Status};

/// Counts the spans of every trace export.
struct SpanCounter(Arc<AtomicUsize>);

#[tonic::async_trait]
impl TraceService for SpanCounter {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let spans: usize = request
            .get_ref()
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum();
        self.0.fetch_add(spans, Ordering::Relaxed);
        Ok(Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

/// Accepts every metrics export.
struct MetricsSink;

#[tonic::async_trait]
impl MetricsService for MetricsSink {
    async fn export(
        &self,
        _request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        Ok(Response::new(ExportMetricsServiceResponse {
            partial_success: None,
        }))
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    say(&format!("OTLP http://{}", listener.local_addr()?));
    let spans = Arc::new(AtomicUsize::new(0));
    let counted = spans.clone();
    tokio::spawn(async move {
        let mut said = 0;
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let now = counted.load(Ordering::Relaxed);
            if now != said {
                say(&format!("SPANS {now}"));
                said = now;
            }
        }
    });
    tonic::transport::Server::builder()
        .add_service(TraceServiceServer::new(SpanCounter(spans)))
        .add_service(MetricsServiceServer::new(MetricsSink))
        .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
        .await?;
    Ok(())
}

#[allow(clippy::print_stdout)]
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    // A line at a time: the bench reads the file while the sink runs.
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}
