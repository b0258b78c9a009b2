//! `creel storage sweep`: removes what interrupted writes left in a storage profile, i.e.
//! multipart uploads (or a directory's `.part` files) older than a cut-off that no live job's
//! checkpoint names. A job that failed for good aborts its own upload; a sweep catches the rest
//! (a pod killed for good, a job deleted by retention while its upload stayed open).

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use creel_core::{Config, JobState};
use creel_queue::Queue;
use creel_storage::{AnySink, Leftover, Sink};

/// Whether a sweep removes what it finds or only reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SweepMode {
    /// Abort the uploads and delete the files.
    Remove,
    /// Report what would be removed; change nothing.
    DryRun,
}

/// What happened to one leftover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Aborted or deleted.
    Removed,
    /// Would be removed (dry run).
    WouldRemove,
    /// A live job's checkpoint names it: that job will resume it.
    OwnedByLiveJob,
    /// Younger than the cut-off.
    TooYoung,
    /// Removing it failed; see `error`.
    Failed,
}

impl Verdict {
    /// The name the README, `--json` and the text output share (`would_remove`…).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Removed => "removed",
            Self::WouldRemove => "would_remove",
            Self::OwnedByLiveJob => "owned_by_live_job",
            Self::TooYoung => "too_young",
            Self::Failed => "failed",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One leftover and its verdict.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SweptLeftover {
    /// The object it was writing.
    pub key: String,
    /// The multipart upload id (a directory: the temporary file).
    pub upload_id: String,
    /// Its age in whole hours.
    pub age_hours: u64,
    /// What the sweep did.
    pub verdict: Verdict,
    /// Why removing it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Sweeps the storage profile `profile`: every leftover older than `older_than` that no job in
/// a live state (scheduled, ready, running) names in its checkpoint is removed (or, in a dry
/// run, reported). Leftovers are listed before the jobs are read, so an upload whose job
/// checkpoints it meanwhile is seen as owned.
///
/// # Errors
/// The profile is unknown, the store cannot be listed or Redis cannot be read.
pub async fn sweep(
    config: &Config,
    queue: &Queue,
    profile: &str,
    older_than: Duration,
    mode: SweepMode,
) -> anyhow::Result<Vec<SweptLeftover>> {
    let storage = config
        .storage
        .get(profile)
        .with_context(|| format!("storage profile {profile:?} is not configured"))?;
    let sink = AnySink::from_profile(storage).await;
    let leftovers = sink
        .leftovers()
        .await
        .with_context(|| format!("listing the leftovers of storage profile {profile:?}"))?;
    let owned = live_upload_ids(queue).await?;
    let now = SystemTime::now();
    let mut swept = Vec::with_capacity(leftovers.len());
    for l in leftovers {
        let age = now.duration_since(l.initiated).unwrap_or_default();
        let (verdict, error) = if owned.contains(&l.upload_id) {
            (Verdict::OwnedByLiveJob, None)
        } else if age < older_than {
            (Verdict::TooYoung, None)
        } else if mode == SweepMode::DryRun {
            (Verdict::WouldRemove, None)
        } else {
            remove(&sink, &l).await
        };
        swept.push(SweptLeftover {
            key: l.key,
            upload_id: l.upload_id,
            age_hours: age.as_secs() / 3600,
            verdict,
            error,
        });
    }
    Ok(swept)
}

async fn remove(sink: &AnySink, l: &Leftover) -> (Verdict, Option<String>) {
    match sink.remove_leftover(l).await {
        Ok(()) => {
            tracing::info!(key = %l.key, upload_id = %l.upload_id, "swept a leftover upload");
            (Verdict::Removed, None)
        }
        Err(e) => (Verdict::Failed, Some(e.to_string())),
    }
}

/// The upload ids named by the checkpoints of jobs that may still run.
async fn live_upload_ids(queue: &Queue) -> anyhow::Result<HashSet<String>> {
    let mut ids = HashSet::new();
    for q in queue.queues().await? {
        for state in [
            JobState::Scheduled,
            JobState::Ready,
            JobState::Running,
            JobState::WaitingBudget,
        ] {
            let mut cursor: Option<String> = None;
            loop {
                let page = queue.list(&q, state, cursor.as_deref(), 500).await?;
                ids.extend(
                    page.jobs
                        .iter()
                        .filter_map(|j| j.checkpoint.as_ref())
                        .filter_map(creel_jobs::download::checkpoint_upload_id),
                );
                match page.next_cursor {
                    Some(c) => cursor = Some(c),
                    None => break,
                }
            }
        }
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_and_json_names_of_a_verdict_agree() {
        for v in [
            Verdict::Removed,
            Verdict::WouldRemove,
            Verdict::OwnedByLiveJob,
            Verdict::TooYoung,
            Verdict::Failed,
        ] {
            assert_eq!(serde_json::to_string(&v).expect("json"), format!("\"{v}\""));
        }
    }
}
