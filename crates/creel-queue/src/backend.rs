//! [`RedisBackend`]: apalis's `Backend` over creel's Redis queue. One backend serves one queue
//! in one worker; its identity is unique per process start, so a restart never collides with
//! its own previous life.

use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use apalis_core::backend::finalize::Ephemeral;
use apalis_core::backend::{Backend, BackendConfig};
use apalis_core::task::Task;
use apalis_core::task::task_id::RandomId;
use apalis_core::worker::context::WorkerContext;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::ack::AckLayer;
use crate::fetcher::Fetcher;
use crate::worker::{WorkerShared, record_outcomes};
use crate::{Queue, QueueConfig, QueueError, maintenance};

/// An apalis backend that takes jobs of one queue from Redis.
///
/// `Args` is decoded from `{"kind": <kind>, "payload": <payload>}`; a job that does not decode
/// goes to dead with the decode error and never reaches the handler. The handler's response
/// must convert into a [`crate::StepOutcome`] and its error should be a
/// [`creel_core::JobError`] (other errors count as retryable).
pub struct RedisBackend<Args> {
    shared: Arc<WorkerShared>,
    tasks: BoxStream<'static, Task<Args>>,
    closing: Option<BoxFuture<'static, Result<(), QueueError>>>,
    _stop: DropGuard,
    _args: PhantomData<fn() -> Args>,
}

impl<Args> std::fmt::Debug for RedisBackend<Args> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBackend")
            .field("queue", &self.shared.queue_name)
            .field("worker", &self.shared.worker_id)
            .finish_non_exhaustive()
    }
}

impl<Args: DeserializeOwned + Send + 'static> RedisBackend<Args> {
    /// Connects a worker for `queue` and starts its wake-up listener, heartbeat and reaper.
    pub async fn connect(cfg: QueueConfig, queue: &str) -> Result<Self, QueueError> {
        let q = Queue::connect(cfg).await?;
        Ok(Self::new(q, queue))
    }

    /// A worker for `queue` on an existing connection. Must be called inside a tokio runtime.
    #[must_use]
    pub fn new(queue: Queue, queue_name: &str) -> Self {
        Self::with_health(queue, queue_name, crate::WorkerHealth::default())
    }

    /// Like [`RedisBackend::new`], its heartbeat loop reporting to `health` (shared by the
    /// process's backends, read by its `/livez` and `/readyz`).
    #[must_use]
    pub fn with_health(queue: Queue, queue_name: &str, health: crate::WorkerHealth) -> Self {
        let (finisher, outcomes) = mpsc::unbounded_channel();
        let (leased, taken) = mpsc::unbounded_channel();
        let stop = CancellationToken::new();
        let shared = Arc::new(WorkerShared {
            queue,
            queue_name: queue_name.to_owned(),
            worker_id: worker_identity(queue_name),
            leases: Mutex::new(Default::default()),
            finisher,
            leased,
            lease_calls: AtomicU64::new(0),
            closing: AtomicBool::new(false),
            lease_gate: tokio::sync::Mutex::new(()),
            health,
            step_times: Default::default(),
        });
        tokio::spawn(
            stop.clone()
                .run_until_cancelled_owned(record_outcomes(Arc::clone(&shared), outcomes)),
        );
        let (wake_tx, wake_rx) = watch::channel(0u64);
        maintenance::spawn(&shared, wake_tx, &stop);
        let fetcher = Fetcher::<Args>::new(Arc::clone(&shared), wake_rx, taken);
        let tasks = futures::stream::unfold(fetcher, |mut f| async move {
            let task = f.next().await;
            Some((task, f))
        })
        .boxed();
        Self {
            shared,
            tasks,
            closing: None,
            _stop: stop.drop_guard(),
            _args: PhantomData,
        }
    }

    /// This worker's identity, as listed by [`Queue::workers`].
    #[must_use]
    pub fn worker_id(&self) -> &str {
        &self.shared.worker_id
    }
}

/// `<host>-<pid>-<start ms>-<random>`: unique per process start and per backend.
fn worker_identity(queue: &str) -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "local".to_owned());
    let started = chrono::Utc::now().timestamp_millis();
    format!(
        "{host}-{}-{queue}-{started}-{:04x}",
        std::process::id(),
        fastrand::u16(..)
    )
}

impl<Args: Send + 'static> Backend for RedisBackend<Args> {
    type Task = Task<Args>;
    type Error = QueueError;

    fn poll_ready(
        &mut self,
        _cx: &mut Context<'_>,
        _worker: &WorkerContext,
    ) -> Poll<Result<(), QueueError>> {
        Poll::Ready(Ok(()))
    }

    fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
        _worker: &WorkerContext,
    ) -> Poll<Option<Result<Task<Args>, QueueError>>> {
        self.tasks.poll_next_unpin(cx).map(|t| t.map(Ok))
    }

    fn poll_close(
        &mut self,
        cx: &mut Context<'_>,
        _worker: &WorkerContext,
    ) -> Poll<Result<(), QueueError>> {
        let shared = Arc::clone(&self.shared);
        let closing = self
            .closing
            .get_or_insert_with(|| async move { shared.close().await }.boxed());
        Pin::new(closing).poll(cx)
    }
}

impl<Args: Send + 'static> BackendConfig for RedisBackend<Args> {
    type Args = Args;
    type Id = RandomId;
    type Kind = Ephemeral;
    type Config = QueueConfig;
    type Layer = AckLayer;

    fn config(&self) -> &QueueConfig {
        self.shared.queue.config()
    }

    fn middleware(&mut self, _worker: &mut WorkerContext) -> AckLayer {
        AckLayer {
            shared: Arc::clone(&self.shared),
        }
    }
}
