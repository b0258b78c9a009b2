//! The typed Baijiayun calls creel makes: one method per endpoint, parameters checked before
//! anything is sent.

use std::collections::BTreeMap;

use creel_core::config::Vendor;
use serde_json::Value;

use super::BaijiayunClient;
use super::endpoints::*;
use super::model::{
    AccountInfo, CropResult, CropSegment, ExpiringUrl, PlayInfo, PlaybackInfo, PlaybackPage,
    RoomPureVideo, VodInfo, VodPage, VodState,
};
use crate::endpoint::Endpoint;
use crate::error::VendorError;

/// Which room and session a call is about (`session_id` only for long-term rooms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Playback {
    /// The room.
    pub room_id: i64,
    /// The session of a long-term room.
    pub session_id: Option<i64>,
}

/// Builds a parameter map; `None` values are left out (never send an empty parameter).
fn params<const N: usize>(pairs: [(&str, Option<String>); N]) -> BTreeMap<String, String> {
    pairs
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v)))
        .collect()
}

fn invalid(endpoint: &Endpoint, field: &str, reason: impl Into<String>) -> VendorError {
    VendorError::InvalidRequest {
        vendor: Vendor::Baijiayun,
        endpoint: endpoint.name,
        field: field.to_owned(),
        reason: reason.into(),
    }
}

impl Playback {
    fn params(self) -> [(&'static str, Option<String>); 2] {
        [
            ("room_id", Some(self.room_id.to_string())),
            ("session_id", self.session_id.map(|s| s.to_string())),
        ]
    }
}

impl BaijiayunClient {
    /// API 1: a playback's basic info.
    pub async fn playback_info(&self, playback: Playback) -> Result<PlaybackInfo, VendorError> {
        self.call_typed(&PLAYBACK_INFO, params(playback.params()))
            .await
    }

    /// API 2: a page of playbacks, newest first (`page` from 1), of one room if `room_id` is
    /// given.
    pub async fn playback_list(
        &self,
        room_id: Option<i64>,
        page: u32,
        page_size: u32,
    ) -> Result<PlaybackPage, VendorError> {
        if page == 0 {
            return Err(invalid(&PLAYBACK_LIST, "page", "pages start at 1"));
        }
        let p = params([
            ("product_type", Some("0".into())),
            ("page", Some(page.to_string())),
            ("page_size", Some(page_size.to_string())),
            ("room_id", room_id.map(|r| r.to_string())),
        ]);
        self.call_typed(&PLAYBACK_LIST, p).await
    }

    /// API 10: the cropped versions of a playback.
    pub async fn crop_list(
        &self,
        playback: Playback,
        page: u32,
        page_size: u32,
    ) -> Result<PlaybackPage, VendorError> {
        if !(1..=1000).contains(&page_size) {
            return Err(invalid(&CROP_LIST, "page_size", "must be 1 to 1000"));
        }
        let [room, session] = playback.params();
        let p = params([
            room,
            session,
            ("page", Some(page.max(1).to_string())),
            ("page_size", Some(page_size.to_string())),
        ]);
        self.call_typed(&CROP_LIST, p).await
    }

    /// API 16: record one (large-class) playback as a pure video with `record_template`.
    pub async fn pure_video(
        &self,
        playback: Playback,
        record_template: Option<u32>,
    ) -> Result<(), VendorError> {
        let [room, session] = playback.params();
        let p = params([
            room,
            session,
            ("record_template", record_template.map(|t| t.to_string())),
        ]);
        self.call(&PURE_VIDEO, p).await.map(|_| ())
    }

    /// API 17: crop a (webrtc large-class) playback into segments of `length_per_segment`
    /// seconds.
    pub async fn segment_crop(
        &self,
        playback: Playback,
        length_per_segment: u32,
    ) -> Result<CropResult, VendorError> {
        if length_per_segment == 0 {
            return Err(invalid(
                &SEGMENT_CROP,
                "length_per_segment",
                "must be positive",
            ));
        }
        let [room, session] = playback.params();
        let p = params([
            room,
            session,
            ("length_per_segment", Some(length_per_segment.to_string())),
        ]);
        self.call_typed(&SEGMENT_CROP, p).await
    }

    /// API 19: pure video of every (original, main-version) playback of a room.
    pub async fn room_pure_video(&self, room_id: i64) -> Result<RoomPureVideo, VendorError> {
        let p = params([("room_id", Some(room_id.to_string()))]);
        self.call_typed(&ROOM_PURE_VIDEO, p).await
    }

    /// API 20: the pure video's download URL (valid 30 days; fetch it right before use).
    pub async fn pure_video_url(
        &self,
        playback: Playback,
        version: Option<i64>,
    ) -> Result<ExpiringUrl, VendorError> {
        let [room, session] = playback.params();
        let p = params([room, session, ("version", version.map(|v| v.to_string()))]);
        self.call_typed(&PURE_VIDEO_URL, p).await
    }

    /// API 35: crop one playback into named segments. `crop_info` is sent as a JSON string
    /// and signed raw.
    pub async fn batch_crop(
        &self,
        playback: Playback,
        segments: &[CropSegment],
    ) -> Result<CropResult, VendorError> {
        if segments.is_empty() {
            return Err(invalid(
                &BATCH_CROP,
                "crop_info",
                "needs at least one segment",
            ));
        }
        for (i, s) in segments.iter().enumerate() {
            if s.end_time <= s.start_time {
                return Err(invalid(
                    &BATCH_CROP,
                    &format!("crop_info[{i}].end_time"),
                    "must be after start_time",
                ));
            }
            if s.name.trim().is_empty() {
                return Err(invalid(
                    &BATCH_CROP,
                    &format!("crop_info[{i}].name"),
                    "must not be empty",
                ));
            }
        }
        let crop_info = serde_json::to_string(segments)
            .map_err(|e| invalid(&BATCH_CROP, "crop_info", e.to_string()))?;
        let [room, session] = playback.params();
        let p = params([room, session, ("crop_info", Some(crop_info))]);
        self.call_typed(&BATCH_CROP, p).await
    }

    /// API 38: turn a merged playback into a pure video.
    pub async fn merge_pure_video(&self, mixed_playback_id: i64) -> Result<Value, VendorError> {
        let p = params([("mixed_playback_id", Some(mixed_playback_id.to_string()))]);
        self.call(&MERGE_PURE_VIDEO, p).await
    }

    /// API 39: the merged pure video's renditions.
    pub async fn merge_pure_video_info(
        &self,
        mixed_playback_id: i64,
    ) -> Result<PlayInfo, VendorError> {
        let p = params([("mixed_playback_id", Some(mixed_playback_id.to_string()))]);
        self.call_typed(&MERGE_PURE_VIDEO_INFO, p).await
    }

    /// VOD `getStatus`.
    pub async fn vod_status(&self, video_id: i64) -> Result<VodState, VendorError> {
        let p = params([("video_id", Some(video_id.to_string()))]);
        self.call_typed(&VOD_STATUS, p).await
    }

    /// VOD `getInfo` (with `file_md5`).
    pub async fn vod_info(&self, video_id: i64) -> Result<VodInfo, VendorError> {
        let p = params([("video_id", Some(video_id.to_string()))]);
        self.call_typed(&VOD_INFO, p).await
    }

    /// VOD `getVideoList`: a page (`page` from 1) of the account's videos, at most 1000 a
    /// page; with `created_since` (`YYYY-MM-DD HH:MM:SS`), only those added since.
    pub async fn vod_list(
        &self,
        page: u32,
        page_size: u32,
        created_since: Option<&str>,
    ) -> Result<VodPage, VendorError> {
        if page == 0 {
            return Err(invalid(&VOD_LIST, "page", "pages start at 1"));
        }
        if !(1..=1000).contains(&page_size) {
            return Err(invalid(&VOD_LIST, "page_size", "must be 1 to 1000"));
        }
        let p = params([
            ("page", Some(page.to_string())),
            ("page_size", Some(page_size.to_string())),
            ("create_time", created_since.map(str::to_owned)),
        ]);
        self.call_typed(&VOD_LIST, p).await
    }

    /// VOD `getAccountInfo` (API-20): the traffic package and what Baijiayun counted of it.
    pub async fn account_info(&self) -> Result<AccountInfo, VendorError> {
        self.call_typed(&VOD_ACCOUNT_INFO, params([])).await
    }

    /// VOD `getUrl`: fresh renditions, valid `expires_in` seconds (vendor default 12 h).
    pub async fn vod_url(
        &self,
        video_id: i64,
        expires_in: Option<u64>,
    ) -> Result<PlayInfo, VendorError> {
        let p = params([
            ("video_id", Some(video_id.to_string())),
            ("expires_in", expires_in.map(|e| e.to_string())),
        ]);
        self.call_typed(&VOD_URL, p).await
    }

    /// Sets the account's transcode callback URL (VOD and playback).
    pub async fn set_transcode_callback_url(&self, url: &str) -> Result<String, VendorError> {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(invalid(
                &SET_TRANSCODE_CALLBACK,
                "url",
                "must start with http(s)://",
            ));
        }
        let p = params([("url", Some(url.to_owned()))]);
        let data = self.call(&SET_TRANSCODE_CALLBACK, p).await?;
        Ok(data
            .get("url")
            .and_then(Value::as_str)
            .unwrap_or(url)
            .to_owned())
    }

    /// The account's transcode callback URL.
    pub async fn transcode_callback_url(&self) -> Result<String, VendorError> {
        let data = self.call(&GET_TRANSCODE_CALLBACK, BTreeMap::new()).await?;
        Ok(data
            .get("url")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned())
    }
}
