//! `plaso.export`: export a historic Plaso classroom to video or audio (`transferVideo`), follow
//! the task to 99 (`getVideoTask`, pulled forward by Plaso's callback, which is only a hint),
//! and report `videoUrl` (in the customer's own OSS).
//!
//! Paying twice is what this kind guards against: Plaso bills each `transferVideo`. Creel's
//! jobs submit one at a time per record (a Redis lock), and the task id is recorded as soon as
//! Plaso names it: under the record and the exact options (an identical request adopts that
//! task, running or finished, instead of paying again) and as the record's running export.
//! Code 22001 (an export of this record is running) for creel's own export with other options
//! waits for it; for a task creel did not start, `classroom.plaso_unknown_task` decides: wait
//! and ask again later, or fail, never a silent second submission. 22003 and −1/−2 are permanent failures
//! with Plaso's reason; −3 (Plaso gave up calling back) is not a failure: polling goes on.

use std::time::Duration;

use creel_core::classroom::UnknownTaskPolicy;
use creel_core::config::Vendor;
use creel_core::{Config, JobError, JobRequestError, VendorFailure};
use creel_queue::JobContext;
use creel_vendors::VendorError;
use creel_vendors::plaso::TRANSFER_VIDEO;
use creel_vendors::plaso::model::{TaskStatus, TransferVideo};
use md5::Digest;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{
    Deliver, Output, PollState, Polled, SubmitFailed, Uncertain, VendorTask, account, keys,
    task_failed,
};
use crate::JobDeps;
use crate::vendor_source::SourceRef;

/// How long the record → task record is kept (a Plaso export takes hours at most).
const OWNED_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
/// How long one job may hold a record's submission lock.
const SUBMIT_LOCK: Duration = Duration::from_secs(120);
/// How soon a job that found the record's submission locked asks again.
const LOCKED_RETRY: Duration = Duration::from_millis(500);

/// The payload of a `plaso.export` job: `transferVideo`'s options, and an optional delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlasoExportSpec {
    /// What to export (`recordId`, `fileName`, `convertMode`, resolution, bitrates, frame rate).
    #[serde(flatten)]
    pub export: TransferVideo,
    /// Copy the video into a storage profile.
    #[serde(default)]
    pub deliver: Option<Deliver>,
}

/// The task creel follows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlasoTask {
    /// Plaso's task id.
    pub task_id: String,
}

/// Where the task of an export is recorded: by record and by the exact options, so an
/// identical request adopts it (running or finished) and a different one is a new export.
fn owned_key(account: &str, export: &TransferVideo) -> String {
    let options = serde_json::to_string(&export.params()).unwrap_or_default();
    let digest = md5::Md5::digest(options.as_bytes());
    format!(
        "plaso:{account}:record:{}:{}",
        export.record_id,
        hex::encode(&digest[..8])
    )
}

/// Where the running task of a record is recorded, whatever its options.
fn running_key(account: &str, record_id: &str) -> String {
    format!("plaso:{account}:record:{record_id}:running")
}

impl VendorTask for PlasoExportSpec {
    const NAME: &'static str = "plaso.export";
    const VENDOR: Vendor = Vendor::Plaso;
    type Task = PlasoTask;

    fn decode(payload: &Value) -> Result<Self, JobRequestError> {
        crate::kind::decode_payload(payload).map_err(|e| {
            // `export` is flattened, which hides the path of a field inside it: decode that
            // part alone to name the field.
            let mut export = payload.clone();
            if let Some(map) = export.as_object_mut() {
                map.remove("deliver");
            }
            crate::kind::decode_payload::<creel_vendors::plaso::model::TransferVideo>(&export)
                .err()
                .filter(|inner| inner.field != "payload")
                .unwrap_or(e)
        })
    }

    fn check(&self, _: &Config) -> Result<(), JobRequestError> {
        self.export
            .validate()
            .map_err(|e| JobRequestError::new(format!("payload.{}", e.field), e.reason))
    }

    fn deliver(&self) -> Option<&Deliver> {
        self.deliver.as_ref()
    }

    async fn submit(
        &self,
        ctx: &JobContext,
        deps: &JobDeps,
        _uncertain: Uncertain,
    ) -> Result<PlasoTask, SubmitFailed> {
        let account = account(ctx)?;
        let c = deps.vendors.plaso(account)?;
        let owned = owned_key(account, &self.export);
        let running = running_key(account, &self.export.record_id);
        // Plaso answers 22001 for a record with a running export, so a re-run after a lost
        // answer cannot bill twice while that export runs; the record's task, if we recorded
        // it, is adopted without asking.
        if let Some(task_id) = deps.queue.get_shared(&owned).await.map_err(redis)? {
            return Ok(PlasoTask { task_id });
        }
        // Creel's own jobs for one record submit one at a time, so the second adopts the
        // first's task instead of meeting 22001.
        let lock = format!("{running}:submitting");
        if !deps
            .queue
            .claim_once(&lock, SUBMIT_LOCK)
            .await
            .map_err(redis)?
        {
            return Err(JobError::retry_after(
                LOCKED_RETRY,
                format!(
                    "another job is submitting an export of record {}",
                    self.export.record_id
                ),
            )
            .into());
        }
        let answer = c.transfer_video(&self.export).await;
        if let Ok(a) = &answer {
            for key in [&owned, &running] {
                if let Err(e) = deps.queue.set_shared(key, &a.task_id, OWNED_TTL).await {
                    // The job's own checkpoint still records the task; only adoption by
                    // another job is lost.
                    tracing::warn!(error = %e, %key, "could not record the record's export task");
                }
            }
        }
        if let Err(e) = deps.queue.release_claim(&lock).await {
            tracing::warn!(error = %e, %lock, "could not release the submission lock; it expires");
        }
        match answer {
            Ok(answer) => Ok(PlasoTask {
                task_id: answer.task_id,
            }),
            Err(VendorError::Vendor {
                code: 22001,
                message,
                ..
            }) => {
                if let Some(other) = deps.queue.get_shared(&running).await.map_err(redis)? {
                    return Err(JobError::retry_after(
                        Duration::from_millis(deps.config.classroom.unknown_task_wait_ms),
                        format!(
                            "Plaso code 22001: creel's export {other} of record {} with other options is running; asking again later",
                            self.export.record_id
                        ),
                    )
                    .into());
                }
                let error = match deps.config.classroom.plaso_unknown_task {
                    UnknownTaskPolicy::Wait => JobError::retry_after(
                        Duration::from_millis(deps.config.classroom.unknown_task_wait_ms),
                        format!(
                            "Plaso code 22001: an export of record {} that creel did not start is running ({message}); asking again later",
                            self.export.record_id
                        ),
                    ),
                    UnknownTaskPolicy::Fail => JobError::Vendor(VendorFailure::answered(
                        Vendor::Plaso,
                        TRANSFER_VIDEO.name,
                        22001,
                        format!(
                            "{message} (an export of record {} that creel did not start is running; the configured policy is to fail)",
                            self.export.record_id
                        ),
                    )),
                };
                Err(error.into())
            }
            Err(e) => Err(e.into()),
        }
    }

    fn keys(&self, account: &str, task: &PlasoTask) -> Vec<String> {
        vec![keys::plaso_task(account, &task.task_id)]
    }

    async fn poll(
        &self,
        ctx: &JobContext,
        deps: &JobDeps,
        task: &PlasoTask,
        state: &mut PollState<'_>,
    ) -> Result<Polled, JobError> {
        // The callback is unsigned: it only pulled this poll forward. Confirm with Plaso.
        let account = account(ctx)?;
        let c = deps.vendors.plaso(account)?;
        state.count_call();
        let t = c.get_video_task(&task.task_id).await?;
        let release = || async {
            // The record is free again for an export with other options. (The task stays
            // recorded under its options: an identical request adopts the finished export.)
            let running = running_key(account, &self.export.record_id);
            if let Err(e) = deps.queue.delete_shared(&running).await {
                tracing::warn!(error = %e, %running, "could not release the record's running export");
            }
        };
        match (t.status, t.video_url) {
            // −3: Plaso gave up calling back, but the video is there once it names the URL.
            (TaskStatus::Done | TaskStatus::CallbackFailed, Some(url)) => {
                release().await;
                let facts = json!({"vendor": "plaso", "task_id": task.task_id, "record_id": self.export.record_id, "status": t.status.code()});
                Ok(Polled::Done {
                    facts,
                    outputs: vec![Output {
                        facts: json!({"video_url": url, "task_id": task.task_id}),
                        source: SourceRef::PlasoExport {
                            task_id: task.task_id.clone(),
                        }
                        .into(),
                        md5: None,
                    }],
                })
            }
            (s @ (TaskStatus::TranscodeFailed | TaskStatus::UploadFailed), _) => {
                release().await;
                let what = if s == TaskStatus::TranscodeFailed {
                    "transcoding failed"
                } else {
                    "uploading to the customer's OSS failed"
                };
                Err(task_failed(Vendor::Plaso, s.code(), what))
            }
            (status, _) => Ok(Polled::Pending(json!({"status": status.code()}))),
        }
    }
}

fn redis(e: creel_queue::QueueError) -> JobError {
    JobError::retryable(format!("redis: {e}"))
}
