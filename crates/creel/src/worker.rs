//! `creel worker`: one apalis worker per configured queue on creel-queue, running the job kinds
//! of creel-jobs, plus webhook delivery and the tidying after cancellations. On shutdown it
//! stops taking jobs, lets running steps finish for the drain time, then interrupts the rest
//! (their jobs go back to the queue at once), gives back unstarted leases and returns.

use std::sync::Arc;
use std::time::Duration;

use apalis_core::task::data::Data;
use apalis_core::worker::builder::WorkerBuilder;
use creel_core::telemetry::JobParent;
use creel_core::{Config, JobError};
use creel_jobs::{Job, JobDeps};
use creel_queue::trace::StoredContext;
use creel_queue::{JobContext, Queue, RedisBackend, StepOutcome, WorkerHealth};
use opentelemetry::trace::TraceContextExt;
use tokio_util::sync::CancellationToken;
use tower::limit::ConcurrencyLimitLayer;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// A client for every configured vendor account, all taking permits from one cluster-wide
/// limiter on the configured Redis.
///
/// # Errors
/// The limiter cannot reach Redis, or an account's client cannot be built.
pub async fn vendor_clients(config: &Config) -> anyhow::Result<creel_vendors::VendorClients> {
    let limiter: Arc<dyn creel_core::CallLimiter> = Arc::new(
        creel_limiter::ClusterLimiter::connect(
            &crate::settings::redis_target(config),
            &config.redis.prefix,
            &config.accounts,
            config.limiter.clone(),
        )
        .await?
        .with_wait_replicas(config.redis.wait_replicas),
    );
    Ok(creel_vendors::VendorClients::new(
        &config.accounts,
        &creel_vendors::http_client()?,
        &limiter,
    )?)
}

/// Runs every configured queue's worker (and webhook delivery) until `stop` is cancelled, then
/// drains and returns.
pub async fn run(config: Arc<Config>, queue: Queue, stop: CancellationToken) -> anyhow::Result<()> {
    run_with(config, queue, WorkerHealth::default(), stop).await
}

/// Like [`run`], every queue's heartbeat loop reporting to `health` (the probes' source).
pub async fn run_with(
    config: Arc<Config>,
    queue: Queue,
    health: WorkerHealth,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let interrupt_steps = CancellationToken::new();
    let sources = creel_jobs::source::SourcePolicy::new(&config.download);
    let vendors = vendor_clients(&config).await?;
    let deps = JobDeps {
        queue: queue.clone(),
        http: sources.client()?,
        sources,
        vendors: Arc::new(vendors),
        sinks: creel_storage::Sinks::from_profiles(&config.storage).await,
        webhooks: Arc::new(creel_jobs::webhook::WebhookSender::new(
            &config.events.webhook,
        )?),
        config: Arc::clone(&config),
        shutdown: interrupt_steps.clone(),
    };
    let mut tasks = tokio::task::JoinSet::new();
    for (name, qc) in &config.worker.queues {
        let worker = WorkerBuilder::new(format!("creel-{name}"))
            .backend(RedisBackend::<Job>::with_health(
                // Leasing no more than it can start soon leaves the rest to the other pods.
                queue
                    .with_fetch_batch(qc.concurrency)
                    .with_prefetch_max(qc.prefetch_max),
                name,
                health.clone(),
            ))
            .layer(ConcurrencyLimitLayer::new(qc.concurrency.max(1)))
            .data(deps.clone())
            .build(run_step);
        let stop = stop.clone();
        tasks.spawn(async move {
            worker
                .run_until(async move {
                    stop.cancelled().await;
                    Ok::<(), std::io::Error>(())
                })
                .await
        });
        tracing::info!(queue = %name, concurrency = qc.concurrency, "worker started");
    }
    let webhooks = tokio::spawn(crate::webhooks::route(
        queue.clone(),
        Arc::clone(&config),
        stop.clone(),
    ));
    let cleanup = tokio::spawn(crate::cleanup::run(queue.clone(), deps, stop.clone()));
    let retention = tokio::spawn(crate::retention::run(
        queue.clone(),
        config.retention.clone(),
        stop.clone(),
    ));

    stop.cancelled().await;
    let drain = Duration::from_millis(config.worker.drain_ms);
    tracing::info!(
        drain_ms = config.worker.drain_ms,
        "stopping: no new jobs; running steps may finish"
    );
    let interrupt = interrupt_steps.clone();
    let timer = tokio::spawn(async move {
        tokio::time::sleep(drain).await;
        tracing::warn!(
            "drain time is over: interrupting running steps; their jobs go back to the queue"
        );
        interrupt.cancel();
    });
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "a worker ended with an error"),
            Err(e) => tracing::error!(error = %e, "a worker task failed"),
        }
    }
    timer.abort();
    let _ = webhooks.await;
    let _ = cleanup.await;
    let _ = retention.await;
    tracing::info!("worker stopped");
    Ok(())
}

async fn run_step(
    job: Job,
    ctx: Data<JobContext>,
    deps: Data<JobDeps>,
) -> Result<StepOutcome, JobError> {
    let span = process_span(&ctx, deps.config.telemetry.job_parent);
    span.in_scope(|| {
        tracing::debug!(job = %ctx.id, kind = %ctx.kind, attempt = ctx.attempt, "step started");
    });
    let outcome = creel_jobs::run(job, &ctx, &deps)
        .instrument(span.clone())
        .await;
    let _entered = span.enter();
    match &outcome {
        Ok(done) => {
            let name = match done {
                StepOutcome::Done(_) => "succeeded",
                StepOutcome::Continue { .. } => "continued",
                StepOutcome::WaitForBudget { .. } => "waiting_budget",
            };
            span.record("creel.job.outcome", name);
            tracing::info!(job = %ctx.id, kind = %ctx.kind, "step done");
        }
        Err(e) => {
            let kind = match e.kind() {
                creel_core::JobErrorKind::Retryable => "retryable",
                creel_core::JobErrorKind::RetryAfter => "retry_after",
                creel_core::JobErrorKind::Permanent => "permanent",
            };
            span.record("creel.job.outcome", kind);
            span.record("error.type", kind);
            span.record("otel.status_code", "ERROR");
            let error = creel_core::redact::redact_urls(&e.to_string());
            tracing::warn!(job = %ctx.id, kind = %ctx.kind, %error, "step failed");
        }
    }
    outcome
}

/// The CONSUMER span of one step, `process <queue>` (messaging conventions), linked to (or,
/// with `telemetry.job_parent = "parent"`, continuing) the context the job was enqueued with.
#[must_use]
pub fn process_span(ctx: &JobContext, relation: JobParent) -> tracing::Span {
    let span = tracing::info_span!(
        parent: None,
        "process",
        otel.name = format!("process {}", ctx.queue),
        otel.kind = "consumer",
        otel.status_code = tracing::field::Empty,
        messaging.system = "creel",
        messaging.operation.type = "process",
        messaging.operation.name = "process",
        messaging.destination.name = %ctx.queue,
        messaging.message.id = %ctx.id,
        creel.job.kind = %ctx.kind,
        creel.account = ctx.account.as_deref().unwrap_or(""),
        creel.job.attempt = i64::from(ctx.attempt),
        creel.job.step = ctx.step.as_deref().unwrap_or("start"),
        creel.job.outcome = tracing::field::Empty,
        creel.job.queue_wait = tracing::field::Empty,
        error.type = tracing::field::Empty,
    );
    if let Some(due) = ctx.due_at_ms {
        // From due (enqueued, `run_at`, a retry's or a poll's wait over) to started, seconds.
        let waited = (chrono::Utc::now().timestamp_millis() - due).max(0) as f64 / 1000.0;
        span.record("creel.job.queue_wait", waited);
    }
    if let Some(cx) = StoredContext::of_job(ctx).to_context() {
        match relation {
            JobParent::Link => span.add_link(cx.span().span_context().clone()),
            JobParent::Parent => {
                let _ = span.set_parent(cx);
            }
        }
    }
    span
}
