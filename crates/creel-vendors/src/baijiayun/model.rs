//! Baijiayun's typed answers: playbacks (API 1, 2, 10), crops (API 17, 35), pure videos
//! (API 19, 20, 39) and VOD (`getStatus`, `getInfo`, `getUrl`). Ids arrive as numbers or as
//! strings holding numbers (the documents' own examples mix both), so they are read leniently.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

pub(crate) use crate::lenient::{int, opt_int, opt_text};

/// A playback's (or cropped version's) state: the `status` of API 1/10 and of the transcode
/// callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PlaybackStatus {
    /// 10: being generated.
    Generating,
    /// 20: generated, transcoding.
    Transcoding,
    /// 30: transcoding failed.
    Failed,
    /// 100: transcoded, ready.
    Ready,
    /// A value the documents do not list.
    Unknown(i64),
}

impl PlaybackStatus {
    /// The status with wire value `code`.
    #[must_use]
    pub fn from_code(code: i64) -> Self {
        match code {
            10 => Self::Generating,
            20 => Self::Transcoding,
            30 => Self::Failed,
            100 => Self::Ready,
            other => Self::Unknown(other),
        }
    }

    /// The wire value.
    #[must_use]
    pub fn code(self) -> i64 {
        match self {
            Self::Generating => 10,
            Self::Transcoding => 20,
            Self::Failed => 30,
            Self::Ready => 100,
            Self::Unknown(code) => code,
        }
    }
}

impl<'de> Deserialize<'de> for PlaybackStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        int(d).map(Self::from_code)
    }
}

/// API 1: a playback's basic info.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PlaybackInfo {
    /// The cloud-recording video id.
    #[serde(deserialize_with = "int")]
    pub video_id: i64,
    /// Its state.
    pub status: PlaybackStatus,
    /// Its name.
    #[serde(default)]
    pub name: Option<String>,
    /// Duration in seconds.
    #[serde(default, deserialize_with = "opt_int")]
    pub length: Option<i64>,
    /// Size in bytes.
    #[serde(default, deserialize_with = "opt_int")]
    pub total_size: Option<i64>,
}

/// One playback or cropped version (API 2, API 10).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PlaybackItem {
    /// The room.
    #[serde(deserialize_with = "int")]
    pub room_id: i64,
    /// The session of a long-term room (0 or absent otherwise).
    #[serde(default, deserialize_with = "opt_int")]
    pub session_id: Option<i64>,
    /// The video id.
    #[serde(deserialize_with = "int")]
    pub video_id: i64,
    /// Its name.
    #[serde(default)]
    pub name: Option<String>,
    /// Its state.
    pub status: PlaybackStatus,
    /// The crop version (0 for the original).
    #[serde(default, deserialize_with = "opt_int")]
    pub version: Option<i64>,
    /// 0 for the main version.
    #[serde(default, deserialize_with = "opt_int")]
    pub version_type: Option<i64>,
    /// When the playback was made, as the vendor wrote it (local time text or Unix seconds).
    #[serde(default, deserialize_with = "opt_text")]
    pub create_time: Option<String>,
    /// Its size in bytes (original and transcoded files), when listed.
    #[serde(default, deserialize_with = "opt_int")]
    pub total_transcode_size: Option<i64>,
}

/// A page of playbacks (API 2) or crop versions (API 10).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PlaybackPage {
    /// Total count.
    #[serde(default, deserialize_with = "opt_int")]
    pub total: Option<i64>,
    /// This page.
    #[serde(default)]
    pub list: Vec<PlaybackItem>,
}

/// One new video a crop produced (API 17, API 35).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CroppedVideo {
    /// The new video id.
    #[serde(deserialize_with = "int")]
    pub video_id: i64,
    /// The room.
    #[serde(deserialize_with = "int")]
    pub room_id: i64,
    /// The session (long-term rooms).
    #[serde(default, deserialize_with = "opt_int")]
    pub session_id: Option<i64>,
    /// The new version number.
    #[serde(deserialize_with = "int")]
    pub version: i64,
}

/// A crop's result: the new versions, each still to be transcoded.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CropResult {
    /// The new videos.
    #[serde(default)]
    pub list: Vec<CroppedVideo>,
}

/// One named segment of a batch crop (API 35 `crop_info`), in seconds from the start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CropSegment {
    /// Start, in seconds.
    pub start_time: u64,
    /// End, in seconds (after `start_time`).
    pub end_time: u64,
    /// The segment's name.
    pub name: String,
}

/// API 19's answer: the playbacks newly queued for pure video (already queued ones are not
/// listed, so an empty list is not a failure).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RoomPureVideo {
    /// Source ids of the newly queued playbacks.
    #[serde(default, deserialize_with = "strings")]
    pub success_fids: Vec<String>,
}

fn strings<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let v = Vec::<Value>::deserialize(d)?;
    Ok(v.into_iter()
        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
        .collect())
}

/// A download URL and when it expires (`t=` in the URL is the hex Unix expiry).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ExpiringUrl {
    /// The URL.
    pub url: String,
}

impl ExpiringUrl {
    /// The Unix time the URL stops working, from its `t=` parameter.
    #[must_use]
    pub fn expires_unix(&self) -> Option<u64> {
        let query = self.url.split_once('?')?.1;
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix("t="))
            .and_then(|t| u64::from_str_radix(t, 16).ok())
    }
}

/// One rendition of a video (`play_info` entries of VOD `getUrl` and API 39).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Rendition {
    /// The URL (valid 12 h for VOD by default, 30 days for pure video).
    pub url: String,
    /// Size in bytes.
    #[serde(default, deserialize_with = "opt_int")]
    pub size: Option<i64>,
    /// Duration in seconds.
    #[serde(default, deserialize_with = "opt_int")]
    pub duration: Option<i64>,
}

/// Renditions by definition (`low`, `high`, `superHD`, `720p`, `1080p`, `audio`, …).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PlayInfo {
    /// The renditions.
    #[serde(default)]
    pub play_info: BTreeMap<String, Rendition>,
    /// API 39: the merged video's source id.
    #[serde(default)]
    pub fid: Option<Value>,
}

impl PlayInfo {
    /// The best video rendition: 1080p, then 720p/superHD, super, high, std, low; audio last.
    #[must_use]
    pub fn best(&self) -> Option<(&str, &Rendition)> {
        const ORDER: [&str; 8] = [
            "1080p", "720p", "superHD", "super", "high", "std", "low", "audio",
        ];
        ORDER
            .iter()
            .find_map(|d| self.play_info.get_key_value(*d))
            .or_else(|| self.play_info.iter().next())
            .map(|(k, v)| (k.as_str(), v))
    }
}

/// A VOD video's state (`getStatus`, `getInfo`, VOD transcode callback).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum VodStatus {
    /// 10: uploading.
    Uploading,
    /// 20: transcoding (the callback's "upload finished").
    Transcoding,
    /// 30: transcoding failed.
    Failed,
    /// 31: transcoding timed out.
    TranscodeTimeout,
    /// 32: upload timed out.
    UploadTimeout,
    /// 100: transcoded.
    Ready,
    /// A value the document does not list.
    Unknown(i64),
}

impl VodStatus {
    /// The status with wire value `code`.
    #[must_use]
    pub fn from_code(code: i64) -> Self {
        match code {
            10 => Self::Uploading,
            20 => Self::Transcoding,
            30 => Self::Failed,
            31 => Self::TranscodeTimeout,
            32 => Self::UploadTimeout,
            100 => Self::Ready,
            other => Self::Unknown(other),
        }
    }

    /// The wire value.
    #[must_use]
    pub fn code(self) -> i64 {
        match self {
            Self::Uploading => 10,
            Self::Transcoding => 20,
            Self::Failed => 30,
            Self::TranscodeTimeout => 31,
            Self::UploadTimeout => 32,
            Self::Ready => 100,
            Self::Unknown(code) => code,
        }
    }

    /// Whether the video failed for good.
    #[must_use]
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            Self::Failed | Self::TranscodeTimeout | Self::UploadTimeout
        )
    }
}

impl<'de> Deserialize<'de> for VodStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        int(d).map(Self::from_code)
    }
}

/// VOD `getStatus`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct VodState {
    /// The state.
    pub status: VodStatus,
    /// Its description.
    #[serde(default)]
    pub info: Option<String>,
}

/// One video of VOD `getVideoList` (the fields creel uses).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct VodItem {
    /// The video.
    #[serde(deserialize_with = "int")]
    pub video_id: i64,
    /// Its name.
    #[serde(default)]
    pub name: Option<String>,
    /// Its state.
    pub status: VodStatus,
    /// Size in bytes (once transcoded).
    #[serde(default, deserialize_with = "opt_int")]
    pub total_size: Option<i64>,
    /// When it was added, as the vendor wrote it (the document shows both Unix seconds and
    /// local time text).
    #[serde(default, deserialize_with = "opt_text")]
    pub create_time: Option<String>,
}

/// A page of VOD `getVideoList`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct VodPage {
    /// How many videos the account has.
    #[serde(default, deserialize_with = "opt_int")]
    pub total: Option<i64>,
    /// This page.
    #[serde(default)]
    pub list: Vec<VodItem>,
}

/// VOD `getAccountInfo` (API-20): the traffic package (the fields creel uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountInfo {
    /// 0: a monthly traffic package (`month_flow_limit`); 1: a total one (`total_flow_limit`).
    #[serde(default, deserialize_with = "opt_int")]
    pub charge_type: Option<i64>,
    /// Traffic used, in bytes (Baijiayun counts it once a day).
    #[serde(default, deserialize_with = "opt_int")]
    pub used_flow: Option<i64>,
    /// The monthly package, in bytes.
    #[serde(default, deserialize_with = "opt_int")]
    pub month_flow_limit: Option<i64>,
    /// The total package, in bytes.
    #[serde(default, deserialize_with = "opt_int")]
    pub total_flow_limit: Option<i64>,
}

impl AccountInfo {
    /// The package's traffic left by Baijiayun's last count, in bytes (`None` when it names
    /// no limit).
    #[must_use]
    pub fn free_flow(&self) -> Option<i64> {
        let limit = match self.charge_type {
            Some(1) => self.total_flow_limit,
            _ => self.month_flow_limit.or(self.total_flow_limit),
        }?;
        Some(limit - self.used_flow.unwrap_or(0))
    }
}

/// VOD `getInfo` (the fields creel uses).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct VodInfo {
    /// The video.
    #[serde(deserialize_with = "int")]
    pub video_id: i64,
    /// Its name.
    #[serde(default)]
    pub name: Option<String>,
    /// Its state.
    pub status: VodStatus,
    /// Size in bytes (once transcoded).
    #[serde(default, deserialize_with = "opt_int")]
    pub total_size: Option<i64>,
    /// MD5 of the original file: what a download is checked against.
    #[serde(default)]
    pub file_md5: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn crop_list_example_parses_with_mixed_id_types() {
        let page: PlaybackPage = serde_json::from_value(json!({"total": 2, "list": [
            {"room_id": 18072333155594_i64, "session_id": 201807230, "video_id": 218203, "name": "x", "status": 100, "version": 1, "version_type": 1},
            {"room_id": "18072333155594", "session_id": "201807230", "video_id": "218142", "status": 20}
        ]}))
        .expect("api 10");
        assert_eq!(page.list[1].room_id, 18_072_333_155_594);
        assert_eq!(page.list[1].status, PlaybackStatus::Transcoding);
        assert_eq!(page.list[1].version, None);
    }

    #[test]
    fn expiry_comes_from_t() {
        let u = ExpiringUrl {
            url: "http://v.baijiayun.com/a.mp4?t=62dce177&sign=83d5".into(),
        };
        assert_eq!(u.expires_unix(), Some(0x62dc_e177));
    }

    #[test]
    fn best_rendition_prefers_high_definitions() {
        let p: PlayInfo = serde_json::from_value(json!({"play_info": {
            "low": {"url": "l", "size": 1}, "superHD": {"url": "s", "size": 3}, "audio": {"url": "a"}
        }}))
        .expect("play info");
        assert_eq!(p.best().map(|(d, _)| d), Some("superHD"));
    }
}
