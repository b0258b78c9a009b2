//! The loop every stream consumer of creel runs (the intake, webhook delivery): join the group
//! (retrying while Redis is away), read batches, hand each entry to the handler, acknowledge the
//! ones it handled, and leave the rest pending to be reclaimed. Stops when `stop` is cancelled.
//! Event consumers read every queue's stream, picking up queues as they appear.

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use creel_queue::{Queue, Stream, StreamEntry};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tokio_util::sync::CancellationToken;

/// How often an event consumer looks for queues that appeared since.
const NEW_QUEUES_EVERY: Duration = Duration::from_secs(2);

/// Which stream and group to consume, and how.
#[derive(Debug, Clone)]
pub struct Consumer {
    /// The stream.
    pub stream: Stream,
    /// The consumer group.
    pub group: &'static str,
    /// Entries per read.
    pub batch: usize,
    /// Entries another consumer left pending this long are taken over.
    pub reclaim_after: Duration,
}

/// Whether the handler is done with an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// Acknowledge it.
    Done,
    /// Leave it pending; it is read again after `reclaim_after`.
    Later,
}

impl Consumer {
    /// A consumer of the events stream in `group`: batches of 16, entries a crashed worker left
    /// pending taken over after a minute.
    #[must_use]
    pub fn of_events(group: &'static str) -> Self {
        Self {
            stream: Stream::Events,
            group,
            batch: 16,
            reclaim_after: Duration::from_secs(60),
        }
    }

    /// Consumes the fleet-wide events stream and every queue's (each queue's completion events
    /// are in a stream of its own, on its shard), until `stop` is cancelled.
    pub async fn run_events<F, Fut>(self, queue: Queue, stop: CancellationToken, handle: F)
    where
        F: Fn(StreamEntry) -> Fut + Sync,
        Fut: Future<Output = Handled> + Send,
    {
        let handle = &handle;
        let mut consumers: FuturesUnordered<Pin<Box<dyn Future<Output = ()> + Send + '_>>> =
            FuturesUnordered::new();
        let mut known = BTreeSet::new();
        let consume = |stream: Stream| {
            let consumer = Self {
                stream,
                ..self.clone()
            };
            Box::pin(consumer.run(queue.clone(), stop.clone(), handle))
                as Pin<Box<dyn Future<Output = ()> + Send + '_>>
        };
        consumers.push(consume(Stream::Events));
        while !stop.is_cancelled() {
            match queue.queues().await {
                Ok(names) => {
                    for name in names {
                        if known.insert(name.clone()) {
                            consumers.push(consume(Stream::QueueEvents(name)));
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(group = self.group, error = %e, "cannot list queues; retrying")
                }
            }
            let wait = tokio::time::sleep(NEW_QUEUES_EVERY);
            tokio::pin!(wait);
            loop {
                tokio::select! {
                    () = &mut wait => break,
                    Some(()) = consumers.next() => {}
                }
            }
        }
        while consumers.next().await.is_some() {}
    }

    /// Consumes one stream until `stop` is cancelled.
    pub async fn run<F, Fut>(self, queue: Queue, stop: CancellationToken, handle: &F)
    where
        F: Fn(StreamEntry) -> Fut + Sync,
        Fut: Future<Output = Handled> + Send,
    {
        let me = format!("{}-{}", std::process::id(), ulid::Ulid::new());
        let mut backoff =
            creel_core::Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
        let mut reader = loop {
            match queue
                .stream_reader(&self.stream, self.group, &me, Duration::from_secs(2))
                .await
            {
                Ok(r) => break r,
                Err(e) => {
                    tracing::warn!(group = self.group, error = %e, "cannot join the consumer group; retrying");
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(backoff.next_wait()) => {}
                    }
                }
            }
        };
        while !stop.is_cancelled() {
            let entries = tokio::select! {
                () = stop.cancelled() => return,
                r = reader.read(self.batch, Duration::from_secs(1), self.reclaim_after) => r,
            };
            let entries = match entries {
                Ok(e) => e,
                Err(e) => {
                    tracing::warn!(group = self.group, error = %e, "reading the stream failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            for entry in entries {
                let id = entry.id.clone();
                if handle(entry).await == Handled::Done
                    && let Err(e) = reader.ack(std::slice::from_ref(&id)).await
                {
                    tracing::warn!(group = self.group, error = %e, "could not acknowledge an entry; it will be handled again");
                }
            }
        }
    }
}
