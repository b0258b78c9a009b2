//! The backend's tower middleware: it sits outside the user's layers, sees how each step run
//! ended, and records that in Redis (done, next step, retry with backoff, or dead) under the
//! worker's lease.

use std::sync::Arc;
use std::task::{Context, Poll};

use apalis_core::error::BoxDynError;
use apalis_core::task::Task;
use futures::FutureExt;
use futures::future::BoxFuture;
use tower::{Layer, Service};

use crate::worker::{Finish, WorkerShared};
use crate::{JobContext, StepOutcome};

/// Wraps the worker's service with [`AckService`].
#[derive(Debug, Clone)]
pub struct AckLayer {
    pub(crate) shared: Arc<WorkerShared>,
}

impl<S> Layer<S> for AckLayer {
    type Service = AckService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AckService {
            inner,
            shared: Arc::clone(&self.shared),
        }
    }
}

/// Records each step run's outcome in Redis before reporting it to apalis.
#[derive(Debug, Clone)]
pub struct AckService<S> {
    inner: S,
    shared: Arc<WorkerShared>,
}

impl<S, Args> Service<Task<Args>> for AckService<S>
where
    S: Service<Task<Args>>,
    S::Future: Send + 'static,
    S::Error: Into<BoxDynError> + Send,
    S::Response: Into<StepOutcome> + Send,
{
    type Response = StepOutcome;
    type Error = BoxDynError;
    type Future = BoxFuture<'static, Result<StepOutcome, BoxDynError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, task: Task<Args>) -> Self::Future {
        let ctx = task.data().get::<JobContext>().cloned();
        let fut = self.inner.call(task);
        let shared = Arc::clone(&self.shared);
        async move {
            let started = std::time::Instant::now();
            let result = fut.await;
            shared.step_times.record(started.elapsed());
            let Some(ctx) = ctx else {
                return result.map(Into::into).map_err(Into::into);
            };
            match result {
                Ok(response) => {
                    let outcome: StepOutcome = response.into();
                    shared.finish(&ctx, Finish::from_outcome(&outcome)).await;
                    Ok(outcome)
                }
                Err(e) => {
                    let e: BoxDynError = e.into();
                    let finish =
                        Finish::from_error(e.as_ref(), &ctx, &shared.queue, fastrand::f64());
                    shared.finish(&ctx, finish).await;
                    Err(e)
                }
            }
        }
        .boxed()
    }
}
