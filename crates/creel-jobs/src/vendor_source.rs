//! Download sources that are vendor references instead of URLs. Vendor download URLs expire
//! (VOD `getUrl` after 12 h, pure videos after 30 days), so a job stores the ids and asks the
//! vendor for a fresh URL right before each attempt, and once more when the URL is refused
//! (HTTP 403/410).

use creel_core::JobError;
use creel_core::config::Vendor;
use creel_vendors::baijiayun::Playback;
use creel_vendors::plaso::model::TaskStatus;
use creel_vendors::{VendorClient, VendorClients};
use serde::{Deserialize, Serialize};

/// A video the vendor serves, by its ids. The job's `account` names the vendor account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum SourceRef {
    /// A Baijiayun VOD video (`getUrl`; its `file_md5` from `getInfo` is checked).
    BaijiayunVod {
        /// The video.
        video_id: i64,
    },
    /// The pure video of a Baijiayun playback (API 20).
    BaijiayunPureVideo {
        /// The room.
        room_id: i64,
        /// The session of a long-term room.
        #[serde(default)]
        session_id: Option<i64>,
        /// The crop version (default: the main one).
        #[serde(default)]
        version: Option<i64>,
    },
    /// The pure video of a Baijiayun merged playback (API 39).
    BaijiayunMergedPureVideo {
        /// The merged playback.
        mixed_playback_id: i64,
    },
    /// A WeClassroom lesson's replay (API 24).
    WeclassroomReplay {
        /// The lesson.
        lesson_id: i64,
    },
    /// The video of a finished Plaso export task (`getVideoTask`'s `videoUrl`).
    PlasoExport {
        /// The task.
        task_id: String,
    },
}

impl SourceRef {
    /// The vendor whose account must serve this reference.
    #[must_use]
    pub fn vendor(&self) -> Vendor {
        match self {
            Self::BaijiayunVod { .. }
            | Self::BaijiayunPureVideo { .. }
            | Self::BaijiayunMergedPureVideo { .. } => Vendor::Baijiayun,
            Self::WeclassroomReplay { .. } => Vendor::Weclassroom,
            Self::PlasoExport { .. } => Vendor::Plaso,
        }
    }
}

/// A fresh URL for a reference, and the vendor's MD5 of the file when it reports one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The URL to download now.
    pub url: String,
    /// The vendor's MD5 (lowercase hex), to check the download against.
    pub md5: Option<String>,
}

fn wrong_vendor(source: &SourceRef, account: &str) -> JobError {
    JobError::permanent(format!(
        "account {account:?} is not a {} account, which a {source:?} source needs",
        source.vendor()
    ))
}

/// Asks the vendor for a fresh URL of `source` through account `account`'s client (which
/// takes a quota permit per call).
pub async fn resolve(
    source: &SourceRef,
    account: &str,
    vendors: &VendorClients,
) -> Result<Resolved, JobError> {
    let client = vendors.get(account).ok_or_else(|| {
        JobError::permanent(format!("no vendor account {account:?} is configured"))
    })?;
    let no_rendition = || JobError::retryable("the vendor listed no rendition yet");
    match (source, client) {
        (SourceRef::BaijiayunVod { video_id }, VendorClient::Baijiayun(c)) => {
            let info = c.vod_info(*video_id).await?;
            let play = c.vod_url(*video_id, None).await?;
            let (_, rendition) = play.best().ok_or_else(no_rendition)?;
            Ok(Resolved {
                url: rendition.url.clone(),
                md5: info.file_md5.map(|m| m.to_ascii_lowercase()),
            })
        }
        (
            SourceRef::BaijiayunPureVideo {
                room_id,
                session_id,
                version,
            },
            VendorClient::Baijiayun(c),
        ) => {
            let playback = Playback {
                room_id: *room_id,
                session_id: *session_id,
            };
            let url = c.pure_video_url(playback, *version).await?;
            Ok(Resolved {
                url: url.url,
                md5: None,
            })
        }
        (SourceRef::BaijiayunMergedPureVideo { mixed_playback_id }, VendorClient::Baijiayun(c)) => {
            let info = c.merge_pure_video_info(*mixed_playback_id).await?;
            let (_, rendition) = info.best().ok_or_else(no_rendition)?;
            Ok(Resolved {
                url: rendition.url.clone(),
                md5: None,
            })
        }
        (SourceRef::WeclassroomReplay { lesson_id }, VendorClient::Weclassroom(c)) => {
            let replay = c.replay_url(*lesson_id).await?;
            Ok(Resolved {
                url: creel_vendors::weclassroom::model::normalize_url(&replay.mp4url),
                md5: None,
            })
        }
        (SourceRef::PlasoExport { task_id }, VendorClient::Plaso(c)) => {
            let task = c.get_video_task(task_id).await?;
            match (task.status, task.video_url) {
                (TaskStatus::Done, Some(url)) => Ok(Resolved { url, md5: None }),
                (status, _) => Err(JobError::retryable(format!(
                    "the Plaso task is at status {} and has no video yet",
                    status.code()
                ))),
            }
        }
        _ => Err(wrong_vendor(source, account)),
    }
}
