//! `baijiayun.crop`: one playback cut into named (API 35) or fixed-length (API 17) segments; the
//! new versions are persisted at once and followed with API 10 until each is transcoded.

use creel_core::config::Vendor;
use creel_core::{Config, JobError, JobRequestError};
use creel_queue::JobContext;
use creel_vendors::Received;
use creel_vendors::baijiayun::Playback;
use creel_vendors::baijiayun::callback::Callback;
use creel_vendors::baijiayun::model::{CropSegment, PlaybackStatus};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::JobDeps;
use crate::classroom::{
    CallbackTrust, Deliver, Output, PollState, Polled, SubmitFailed, Uncertain, VendorTask,
    account, keys, task_failed,
};
use crate::vendor_source::SourceRef;

/// The payload of `baijiayun.crop`: named `segments` (API 35) or `length_per_segment` seconds
/// (API 17, WebRTC large classes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CropSpec {
    /// The room.
    pub room_id: i64,
    /// The session of a long-term room.
    #[serde(default)]
    pub session_id: Option<i64>,
    /// Named segments `{start_time, end_time, name}` in seconds.
    #[serde(default)]
    pub segments: Option<Vec<CropSegment>>,
    /// Or: cut into segments of this many seconds.
    #[serde(default)]
    pub length_per_segment: Option<u32>,
    /// Copy the segments into a storage profile.
    #[serde(default)]
    pub deliver: Option<Deliver>,
}

/// The crop versions being followed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CropTask {
    /// (video id, version) per segment, in order.
    pub videos: Vec<(i64, i64)>,
}

impl CropSpec {
    fn playback(&self) -> Playback {
        Playback {
            room_id: self.room_id,
            session_id: self.session_id,
        }
    }
}

impl VendorTask for CropSpec {
    const NAME: &'static str = "baijiayun.crop";
    const VENDOR: Vendor = Vendor::Baijiayun;
    type Task = CropTask;

    /// The combination of fields and the bounds of `config.limits`; the error names the field.
    fn check(&self, config: &Config) -> Result<(), JobRequestError> {
        use creel_core::JobRequestError as E;
        let limits = &config.limits;
        match (&self.segments, self.length_per_segment) {
            (Some(s), None) if s.is_empty() => {
                Err(E::new("payload.segments", "needs at least one segment"))
            }
            (Some(s), None) if s.len() > limits.crop_max_segments => Err(E::new(
                "payload.segments",
                format!(
                    "at most {} segments (limits.crop_max_segments)",
                    limits.crop_max_segments
                ),
            )),
            (Some(s), None) => {
                for (i, seg) in s.iter().enumerate() {
                    if seg.end_time <= seg.start_time {
                        return Err(E::new(
                            format!("payload.segments[{i}].end_time"),
                            "must be after start_time",
                        ));
                    }
                    if seg.name.trim().is_empty() {
                        return Err(E::new(
                            format!("payload.segments[{i}].name"),
                            "must not be empty",
                        ));
                    }
                }
                Ok(())
            }
            (None, Some(len)) if len < limits.crop_min_segment_secs => Err(E::new(
                "payload.length_per_segment",
                format!(
                    "must be at least {} s (limits.crop_min_segment_secs)",
                    limits.crop_min_segment_secs
                ),
            )),
            (None, Some(_)) => Ok(()),
            _ => Err(E::new(
                "payload.segments",
                "give exactly one of segments and length_per_segment",
            )),
        }
    }

    fn deliver(&self) -> Option<&Deliver> {
        self.deliver.as_ref()
    }

    const CALLBACKS: CallbackTrust = CallbackTrust::Signed;

    async fn submit(
        &self,
        ctx: &JobContext,
        deps: &JobDeps,
        uncertain: Uncertain,
    ) -> Result<CropTask, SubmitFailed> {
        let c = deps.vendors.baijiayun(account(ctx)?)?;
        // Each crop call bills and makes new versions. After an unrecorded submission, the
        // versions it made are the newest ones of this playback: adopt them if they are there.
        let wanted = self.segments.as_ref().map(Vec::len);
        if uncertain == Uncertain::Yes {
            let list = c.crop_list(self.playback(), 1, 1000).await?;
            let mut versions: Vec<(i64, i64)> = list
                .list
                .iter()
                .filter(|v| v.version.unwrap_or(0) > 0)
                .map(|v| (v.video_id, v.version.unwrap_or(0)))
                .collect();
            versions.sort_by_key(|v| v.1);
            if let Some(n) = wanted
                && versions.len() >= n
                && n > 0
            {
                return Ok(CropTask {
                    videos: versions.split_off(versions.len() - n),
                });
            }
        }
        let result = match (&self.segments, self.length_per_segment) {
            (Some(segments), _) => c.batch_crop(self.playback(), segments).await?,
            (None, Some(len)) => c.segment_crop(self.playback(), len).await?,
            (None, None) => {
                return Err(JobError::permanent("payload.segments is missing").into());
            }
        };
        Ok(CropTask {
            videos: result
                .list
                .iter()
                .map(|v| (v.video_id, v.version))
                .collect(),
        })
    }

    fn keys(&self, account: &str, task: &CropTask) -> Vec<String> {
        task.videos
            .iter()
            .map(|(id, _)| keys::baijiayun_video(account, *id))
            .collect()
    }

    async fn poll(
        &self,
        ctx: &JobContext,
        deps: &JobDeps,
        task: &CropTask,
        state: &mut PollState<'_>,
    ) -> Result<Polled, JobError> {
        let mut ready: Vec<Option<Option<String>>> = vec![None; task.videos.len()];
        for (i, s) in state.signals.iter().enumerate() {
            if let Some(Callback::PlaybackTranscode {
                status, file_md5, ..
            }) = s.as_ref().and_then(Received::baijiayun)
            {
                match status {
                    PlaybackStatus::Ready => ready[i] = Some(file_md5.clone()),
                    PlaybackStatus::Failed => {
                        return Err(task_failed(
                            Vendor::Baijiayun,
                            status.code(),
                            &format!("crop segment {} failed to transcode (callback)", i + 1),
                        ));
                    }
                    _ => {}
                }
            }
        }
        if ready.iter().any(Option::is_none) {
            let c = deps.vendors.baijiayun(account(ctx)?)?;
            state.count_call();
            let list = c.crop_list(self.playback(), 1, 1000).await?;
            for (i, (id, _)) in task.videos.iter().enumerate() {
                if ready[i].is_some() {
                    continue;
                }
                match list
                    .list
                    .iter()
                    .find(|v| v.video_id == *id)
                    .map(|v| v.status)
                {
                    Some(PlaybackStatus::Ready) => ready[i] = Some(None),
                    Some(PlaybackStatus::Failed) => {
                        return Err(task_failed(
                            Vendor::Baijiayun,
                            30,
                            &format!("crop segment {} (video {id}) failed to transcode", i + 1),
                        ));
                    }
                    _ => {}
                }
            }
        }
        let waiting = ready.iter().filter(|r| r.is_none()).count();
        if waiting > 0 {
            return Ok(Polled::Pending(
                json!({"segments": ready.len(), "transcoding": waiting}),
            ));
        }
        let names = self.segments.as_ref();
        let outputs = task
            .videos
            .iter()
            .zip(ready)
            .enumerate()
            .map(|(i, ((id, version), md5))| {
                let md5 = md5.flatten();
                Output {
                    facts: json!({
                        "video_id": id, "version": version, "file_md5": md5,
                        "name": names.and_then(|n| n.get(i)).map(|s| s.name.clone()),
                    }),
                    source: SourceRef::BaijiayunVod { video_id: *id }.into(),
                    md5: md5.map(|m| m.to_ascii_lowercase()),
                }
            })
            .collect();
        Ok(Polled::Done {
            facts: json!({"vendor": "baijiayun", "room_id": self.room_id, "session_id": self.session_id}),
            outputs,
        })
    }
}
