//! A worker's background loops: the wake-up listener (pub/sub), the heartbeat that renews the
//! leases it holds, and the reaper that returns expired leases of any worker. Each loop
//! survives Redis being slow, down or restarted, and stops when the worker closes.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::worker::WorkerShared;

/// Starts the three loops; they end when `stop` is cancelled.
pub(crate) fn spawn(
    shared: &Arc<WorkerShared>,
    wake: watch::Sender<u64>,
    stop: &CancellationToken,
) {
    tokio::spawn(
        stop.clone()
            .run_until_cancelled_owned(listen_for_wakeups(Arc::clone(shared), wake)),
    );
    tokio::spawn(
        stop.clone()
            .run_until_cancelled_owned(heartbeat(Arc::clone(shared))),
    );
    tokio::spawn(
        stop.clone()
            .run_until_cancelled_owned(reap(Arc::clone(shared))),
    );
}

async fn listen_for_wakeups(shared: Arc<WorkerShared>, wake: watch::Sender<u64>) {
    let channel = shared.queue.config().queue_key(&shared.queue_name, "wake");
    let mut backoff = creel_core::Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
    loop {
        match creel_redis::subscribe(&shared.queue.config().redis, &channel).await {
            Ok(mut pubsub) => {
                backoff.reset();
                // Anything pushed while we were not subscribed is picked up by this fetch.
                wake.send_modify(|n| *n += 1);
                let mut messages = pubsub.on_message();
                while messages.next().await.is_some() {
                    wake.send_modify(|n| *n += 1);
                }
                tracing::warn!("wake-up subscription ended; resubscribing");
            }
            Err(e) => tracing::warn!(error = %e, "cannot subscribe to wake-ups; retrying"),
        }
        tokio::time::sleep(backoff.next_wait()).await;
    }
}

async fn heartbeat(shared: Arc<WorkerShared>) {
    let cfg = shared.queue.config();
    let every = (cfg.lease / 3).max(Duration::from_millis(100));
    // A beat that hangs (Redis unreachable without an error) is given up after `every`, so the
    // loop keeps turning and the process stays live; it turns at least every 2 × `every`.
    let allowed_silence = every * 3;
    loop {
        let reached = match tokio::time::timeout(every, beat(&shared)).await {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "heartbeat failed; leases will be renewed on the next one");
                false
            }
            Err(_) => {
                tracing::warn!(
                    timeout_ms = every.as_millis(),
                    "heartbeat timed out; leases will be renewed on the next one"
                );
                false
            }
        };
        shared
            .health
            .record(&shared.queue_name, reached, allowed_silence);
        tokio::time::sleep(every).await;
    }
}

async fn beat(shared: &WorkerShared) -> redis::RedisResult<()> {
    let cfg = shared.queue.config();
    let mut conn = shared.queue.conn.clone();
    let now = chrono::Utc::now().timestamp_millis();
    let _: () =
        redis::AsyncCommands::zadd(&mut conn, cfg.workers_key(), &shared.worker_id, now).await?;
    let held = shared.snapshot();
    for chunk in held.chunks(256) {
        let mut inv = shared.queue.scripts.renew.prepare_invoke();
        inv.key(cfg.queue_base(&shared.queue_name))
            .arg(u64::try_from(cfg.lease.as_millis()).unwrap_or(u64::MAX));
        for (id, lease) in chunk {
            inv.arg(id).arg(&lease.token);
        }
        let lost: Vec<String> = inv.invoke_async(&mut conn).await?;
        for id in lost {
            // Finished in the meantime, or reaped after a stall: either way no longer ours.
            tracing::debug!(job = %id, "lease no longer held");
        }
    }
    Ok(())
}

async fn reap(shared: Arc<WorkerShared>) {
    let cfg = shared.queue.config();
    let every = (cfg.lease / 4).clamp(Duration::from_millis(100), Duration::from_secs(5));
    const CHUNK: usize = 200;
    loop {
        let mut conn = shared.queue.conn.clone();
        let reclaimed: redis::RedisResult<Vec<String>> = shared
            .queue
            .scripts
            .reap
            .prepare_invoke()
            .key(cfg.queue_base(&shared.queue_name))
            .arg(CHUNK)
            .invoke_async(&mut conn)
            .await;
        match reclaimed {
            Ok(ids) if ids.len() == CHUNK => continue,
            Ok(ids) => {
                if !ids.is_empty() {
                    // A span per reclaiming pass (metrics count its jobs).
                    let _pass = tracing::info_span!(
                        "reclaim",
                        messaging.destination.name = %shared.queue_name,
                        creel.job.reclaimed = ids.len(),
                    )
                    .entered();
                    tracing::info!(
                        count = ids.len(),
                        "returned jobs with expired leases to the queue"
                    );
                }
            }
            Err(e) => tracing::warn!(error = %e, "reaper pass failed"),
        }
        // Parents a crashed worker left in the wake-up outbox.
        if let Err(e) = shared.queue.drain_wakes(&shared.queue_name).await {
            tracing::warn!(error = %e, "waking parent jobs failed");
        }
        let jitter = every.mul_f64(fastrand::f64() * 0.2);
        tokio::time::sleep(every + jitter).await;
    }
}
