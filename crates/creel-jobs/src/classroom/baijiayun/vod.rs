//! `baijiayun.vod`: a VOD video, followed with `getStatus` until transcoded, then `getInfo` for
//! its `file_md5`; a signed VOD-transcode callback is trusted without a status call.

use creel_core::config::Vendor;
use creel_core::{Config, JobError, JobRequestError};
use creel_queue::JobContext;
use creel_vendors::Received;
use creel_vendors::baijiayun::callback::Callback;
use creel_vendors::baijiayun::model::VodStatus;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::JobDeps;
use crate::classroom::{
    CallbackTrust, Deliver, Output, PollState, Polled, SubmitFailed, Uncertain, VendorTask,
    account, keys, task_failed,
};
use crate::vendor_source::SourceRef;

/// The payload of `baijiayun.vod`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VodSpec {
    /// The VOD video.
    pub video_id: i64,
    /// Copy the video into a storage profile.
    #[serde(default)]
    pub deliver: Option<Deliver>,
}

/// A VOD video being followed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VodTask {
    /// The video.
    pub video_id: i64,
}

impl VodSpec {
    fn done(&self, md5: Option<String>, size: Option<i64>) -> Polled {
        Polled::Done {
            facts: json!({"vendor": "baijiayun", "video_id": self.video_id}),
            outputs: vec![Output {
                facts: json!({"video_id": self.video_id, "file_md5": md5, "total_size": size}),
                source: SourceRef::BaijiayunVod {
                    video_id: self.video_id,
                }
                .into(),
                md5: md5.map(|m| m.to_ascii_lowercase()),
            }],
        }
    }
}

impl VendorTask for VodSpec {
    const NAME: &'static str = "baijiayun.vod";
    const VENDOR: Vendor = Vendor::Baijiayun;
    type Task = VodTask;

    fn check(&self, _: &Config) -> Result<(), JobRequestError> {
        Ok(())
    }

    fn deliver(&self) -> Option<&Deliver> {
        self.deliver.as_ref()
    }

    const CALLBACKS: CallbackTrust = CallbackTrust::Signed;

    async fn submit(
        &self,
        _: &JobContext,
        _: &JobDeps,
        _: Uncertain,
    ) -> Result<VodTask, SubmitFailed> {
        // The video exists already: nothing is submitted, nothing billed.
        Ok(VodTask {
            video_id: self.video_id,
        })
    }

    fn keys(&self, account: &str, task: &VodTask) -> Vec<String> {
        vec![keys::baijiayun_video(account, task.video_id)]
    }

    async fn poll(
        &self,
        ctx: &JobContext,
        deps: &JobDeps,
        _: &VodTask,
        state: &mut PollState<'_>,
    ) -> Result<Polled, JobError> {
        let signalled = state.signals.first().and_then(Option::as_ref);
        if let Some(Callback::VodTranscode {
            status,
            file_md5,
            total_size,
            ..
        }) = signalled.and_then(Received::baijiayun)
        {
            if *status == VodStatus::Ready {
                return Ok(self.done(file_md5.clone(), *total_size));
            }
            if status.is_failure() {
                return Err(task_failed(
                    Vendor::Baijiayun,
                    status.code(),
                    "VOD transcoding failed (callback)",
                ));
            }
        }
        let c = deps.vendors.baijiayun(account(ctx)?)?;
        // getStatus said "transcoded" once: a poll cut short before getInfo answered does not
        // ask getStatus again.
        if state.recalled::<bool>("transcoded") != Some(true) {
            state.count_call();
            let vod = c.vod_status(self.video_id).await?;
            if vod.status.is_failure() {
                return Err(task_failed(
                    Vendor::Baijiayun,
                    vod.status.code(),
                    vod.info.as_deref().unwrap_or("VOD transcoding failed"),
                ));
            }
            if vod.status != VodStatus::Ready {
                return Ok(Polled::Pending(json!({"status": vod.status.code()})));
            }
            state.remember("transcoded", true);
        }
        state.count_call();
        let info = c.vod_info(self.video_id).await?;
        Ok(self.done(info.file_md5, info.total_size))
    }
}
