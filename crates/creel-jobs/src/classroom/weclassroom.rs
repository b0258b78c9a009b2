//! `weclassroom.replay`: a WeClassroom lesson's replay (API 24), asked for until the lesson's
//! replay is generated (code 40004 until then). WeClassroom sends no callback for it, so this
//! kind only polls.

use creel_core::JobError;
use creel_queue::JobContext;
use creel_vendors::weclassroom::WeclassroomClient;
use creel_vendors::{VendorClient, VendorError};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Deliver, Output, Polled, SubmitFailed, Uncertain, VendorTask, account};
use crate::JobDeps;
use crate::vendor_source::SourceRef;

/// The payload of `weclassroom.replay`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplaySpec {
    /// The lesson.
    pub lesson_id: i64,
    /// Copy the replay into a storage profile.
    #[serde(default)]
    pub deliver: Option<Deliver>,
}

/// The lesson being followed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayTask {
    /// The lesson.
    pub lesson_id: i64,
}

fn client<'a>(deps: &'a JobDeps, account: &str) -> Result<&'a WeclassroomClient, JobError> {
    match deps.vendors.get(account) {
        Some(VendorClient::Weclassroom(c)) => Ok(c),
        _ => Err(JobError::permanent(format!(
            "account {account:?} is not a configured WeClassroom account"
        ))),
    }
}

impl VendorTask for ReplaySpec {
    type Task = ReplayTask;

    async fn submit(
        &self,
        _: &JobContext,
        _: &JobDeps,
        _: Uncertain,
    ) -> Result<ReplayTask, SubmitFailed> {
        Ok(ReplayTask {
            lesson_id: self.lesson_id,
        })
    }

    fn keys(&self, _: &str, _: &ReplayTask) -> Vec<String> {
        Vec::new()
    }

    async fn poll(
        &self,
        ctx: &JobContext,
        deps: &JobDeps,
        task: &ReplayTask,
        _: &[Option<Value>],
        status_calls: &mut u32,
    ) -> Result<Polled, JobError> {
        let c = client(deps, account(ctx)?)?;
        *status_calls += 1;
        match c.replay_url(task.lesson_id).await {
            Ok(r) => {
                let url = creel_vendors::weclassroom::model::normalize_url(&r.mp4url);
                Ok(Polled::Done {
                    facts: json!({"vendor": "weclassroom", "lesson_id": task.lesson_id}),
                    outputs: vec![Output {
                        facts: json!({"lesson_id": task.lesson_id, "mp4url": url}),
                        source: SourceRef::WeclassroomReplay {
                            lesson_id: task.lesson_id,
                        },
                        md5: None,
                    }],
                })
            }
            // 40004 "回放未生成": the replay is not generated yet; ask again later.
            Err(VendorError::Vendor {
                code: 40004,
                message,
                ..
            }) => Ok(Polled::Pending(json!({"code": 40004, "message": message}))),
            Err(e) => Err(e.into()),
        }
    }
}
