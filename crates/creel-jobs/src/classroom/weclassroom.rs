//! `weclassroom.replay`: a WeClassroom lesson's replay (API 24), asked for until the lesson's
//! replay is generated (code 40004 until then, when API 18 says whether the lesson is still to
//! come or expired for good); or, with `server_recordings_of`, the server
//! recordings of those users in the lesson (API 21), asked for until every user has one.
//! WeClassroom sends no callback for either, so this kind only polls.

use creel_core::config::Vendor;
use creel_core::{Config, JobError, JobRequestError, VendorFailure};
use creel_queue::JobContext;
use creel_vendors::VendorError;
use creel_vendors::weclassroom::model::LessonStatus;
use creel_vendors::weclassroom::{LESSON_STATUS, WeclassroomClient};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{
    Deliver, DeliverySource, Output, PollState, Polled, SubmitFailed, Uncertain, VendorTask,
    account,
};
use crate::JobDeps;
use crate::vendor_source::SourceRef;

/// The payload of `weclassroom.replay`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplaySpec {
    /// The lesson.
    pub lesson_id: i64,
    /// Instead of the replay: the server recordings of these users (API 21).
    #[serde(default)]
    pub server_recordings_of: Option<Vec<i64>>,
    /// Copy the replay (or the recordings) into a storage profile.
    #[serde(default)]
    pub deliver: Option<Deliver>,
}

impl ReplaySpec {
    /// API 21 for every user: done when each has at least one recording. A user's recordings,
    /// once found, are remembered: a later poll asks only for the users still without.
    async fn recordings(
        &self,
        c: &WeclassroomClient,
        users: &[i64],
        state: &mut PollState<'_>,
    ) -> Result<Polled, JobError> {
        let mut outputs = Vec::new();
        for user in users {
            let field = format!("recordings_of_{user}");
            let found: Vec<Output> = match state.recalled(&field) {
                Some(found) => found,
                None => {
                    state.count_call();
                    let found = c.server_recordings(self.lesson_id, *user).await?;
                    if found.is_empty() {
                        return Ok(Polled::Pending(json!({"user_id": user, "recordings": 0})));
                    }
                    let found: Vec<Output> = found
                        .into_iter()
                        .map(|r| {
                            let url = creel_vendors::weclassroom::model::normalize_url(&r.url);
                            Output {
                                facts: json!({"lesson_id": self.lesson_id, "user_id": user, "day": r.day, "url": url}),
                                source: DeliverySource::Url(url),
                                md5: None,
                            }
                        })
                        .collect();
                    state.remember(&field, &found);
                    found
                }
            };
            outputs.extend(found);
        }
        Ok(Polled::Done {
            facts: json!({"vendor": "weclassroom", "lesson_id": self.lesson_id, "server_recordings_of": users}),
            outputs,
        })
    }
}

/// The lesson being followed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayTask {
    /// The lesson.
    pub lesson_id: i64,
}

impl VendorTask for ReplaySpec {
    const NAME: &'static str = "weclassroom.replay";
    const VENDOR: Vendor = Vendor::Weclassroom;
    type Task = ReplayTask;

    /// The combination of fields; the error names the field.
    fn check(&self, _: &Config) -> Result<(), JobRequestError> {
        if self
            .server_recordings_of
            .as_ref()
            .is_some_and(Vec::is_empty)
        {
            return Err(creel_core::JobRequestError::new(
                "payload.server_recordings_of",
                "name at least one user, or leave it out for the replay",
            ));
        }
        Ok(())
    }

    fn deliver(&self) -> Option<&Deliver> {
        self.deliver.as_ref()
    }

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
        state: &mut PollState<'_>,
    ) -> Result<Polled, JobError> {
        let c = deps.vendors.weclassroom(account(ctx)?)?;
        if let Some(users) = &self.server_recordings_of {
            return self.recordings(c, users, state).await;
        }
        state.count_call();
        match c.replay_url(task.lesson_id).await {
            Ok(r) => {
                let url = creel_vendors::weclassroom::model::normalize_url(&r.mp4url);
                Ok(Polled::Done {
                    facts: json!({"vendor": "weclassroom", "lesson_id": task.lesson_id}),
                    outputs: vec![Output {
                        facts: json!({"lesson_id": task.lesson_id, "mp4url": url}),
                        source: SourceRef::WeclassroomReplay {
                            lesson_id: task.lesson_id,
                        }
                        .into(),
                        md5: None,
                    }],
                })
            }
            // 40004 "回放未生成": no replay yet. API 18 tells a lesson still to come or in
            // class (ask again later) from one that expired without being held (no replay
            // will ever come).
            Err(VendorError::Vendor {
                code: 40004,
                message,
                ..
            }) => {
                // Asked again next time whatever this says: the replay may be there by then.
                state.count_call();
                let lesson = c
                    .lesson_status(&[task.lesson_id])
                    .await?
                    .into_iter()
                    .find(|l| l.lesson_id == task.lesson_id);
                match lesson.map(|l| l.status) {
                    Some(LessonStatus::Expired) => Err(JobError::Vendor(VendorFailure::answered(
                        Vendor::Weclassroom,
                        LESSON_STATUS.name,
                        LessonStatus::Expired.code(),
                        format!(
                            "lesson {} expired (已过期) without being held; it has no replay",
                            task.lesson_id
                        ),
                    ))),
                    status => Ok(Polled::Pending(json!({
                        "code": 40004,
                        "message": message,
                        "lesson_status": status.map(LessonStatus::code),
                    }))),
                }
            }
            Err(e) => Err(e.into()),
        }
    }
}
