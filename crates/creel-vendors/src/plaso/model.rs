//! Plaso's typed requests and answers: `transferVideo` (with every option validated before
//! sending), `getVideoTask`, task statuses and the result callback.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Value, json};

/// What the exported video shows (`convertMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConvertMode {
    /// 1: avatars only.
    AvatarOnly,
    /// 2: whiteboard only.
    WhiteboardOnly,
    /// 3: audio only.
    AudioOnly,
    /// 10: whiteboard with a large avatar.
    WhiteboardLargeAvatar,
    /// 20: avatars and whiteboard (the vendor's default).
    AvatarWhiteboard,
}

impl ConvertMode {
    /// The wire value.
    #[must_use]
    pub fn code(self) -> i64 {
        match self {
            Self::AvatarOnly => 1,
            Self::WhiteboardOnly => 2,
            Self::AudioOnly => 3,
            Self::WhiteboardLargeAvatar => 10,
            Self::AvatarWhiteboard => 20,
        }
    }

    /// The mode with wire value `code`.
    #[must_use]
    pub fn from_code(code: i64) -> Option<Self> {
        [
            Self::AvatarOnly,
            Self::WhiteboardOnly,
            Self::AudioOnly,
            Self::WhiteboardLargeAvatar,
            Self::AvatarWhiteboard,
        ]
        .into_iter()
        .find(|m| m.code() == code)
    }
}

/// Output resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Resolution {
    /// 720P (the vendor's default).
    #[serde(rename = "720P")]
    P720,
    /// 1080P.
    #[serde(rename = "1080P")]
    P1080,
}

impl Resolution {
    /// The wire value.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::P720 => "720P",
            Self::P1080 => "1080P",
        }
    }
}

/// A `transferVideo` request: export one recorded classroom to a video in the customer's OSS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferVideo {
    /// Target file name.
    pub file_name: String,
    /// The recorded classroom (`recordId`).
    pub record_id: String,
    /// What the video shows.
    #[serde(default)]
    pub convert_mode: Option<ConvertMode>,
    /// Output resolution.
    #[serde(default)]
    pub resolution: Option<Resolution>,
    /// Video bitrate, 500–8000 kbps.
    #[serde(default)]
    pub video_bitrate: Option<u32>,
    /// Audio bitrate, 64–320 kbps.
    #[serde(default)]
    pub audio_bitrate: Option<u32>,
    /// Frame rate, 15–60 fps.
    #[serde(default)]
    pub frame_rate: Option<u32>,
}

/// A field of a request is outside what the vendor accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field, as named in creel's payload.
    pub field: &'static str,
    /// Why.
    pub reason: String,
}

fn in_range(
    field: &'static str,
    value: Option<u32>,
    range: std::ops::RangeInclusive<u32>,
    unit: &str,
) -> Result<(), FieldError> {
    match value {
        Some(v) if !range.contains(&v) => Err(FieldError {
            field,
            reason: format!("must be {}–{} {unit}, got {v}", range.start(), range.end()),
        }),
        _ => Ok(()),
    }
}

impl TransferVideo {
    /// Checks every field against the document's limits.
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.file_name.trim().is_empty() {
            return Err(FieldError {
                field: "file_name",
                reason: "must not be empty".into(),
            });
        }
        if self.record_id.trim().is_empty() {
            return Err(FieldError {
                field: "record_id",
                reason: "must not be empty".into(),
            });
        }
        in_range("video_bitrate", self.video_bitrate, 500..=8000, "kbps")?;
        in_range("audio_bitrate", self.audio_bitrate, 64..=320, "kbps")?;
        in_range("frame_rate", self.frame_rate, 15..=60, "fps")?;
        Ok(())
    }

    /// The wire parameters (without the signature fields); unset options are left out.
    #[must_use]
    pub fn params(&self) -> BTreeMap<String, Value> {
        let mut p = BTreeMap::new();
        p.insert("fileName".into(), json!(self.file_name));
        p.insert("recordId".into(), json!(self.record_id));
        if let Some(m) = self.convert_mode {
            p.insert("convertMode".into(), json!(m.code()));
        }
        if let Some(r) = self.resolution {
            p.insert("resolution".into(), json!(r.as_str()));
        }
        for (k, v) in [
            ("videoBitrate", self.video_bitrate),
            ("audioBitrate", self.audio_bitrate),
            ("frameRate", self.frame_rate),
        ] {
            if let Some(v) = v {
                p.insert(k.into(), json!(v));
            }
        }
        p
    }
}

/// `transferVideo`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct TransferVideoAnswer {
    /// The new task.
    #[serde(rename = "taskId")]
    pub task_id: String,
}

/// An export task's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TaskStatus {
    /// 0: waiting.
    Waiting,
    /// 1: transcoding.
    Transcoding,
    /// 2: uploading to the customer's OSS.
    Uploading,
    /// 3: calling back.
    CallingBack,
    /// 99: done; `videoUrl` is set.
    Done,
    /// −1: transcoding failed.
    TranscodeFailed,
    /// −2: upload failed.
    UploadFailed,
    /// −3: Plaso gave up calling back; the video may still be there (poll).
    CallbackFailed,
    /// A code the document does not list.
    Unknown(i64),
}

impl TaskStatus {
    /// The status with wire value `code`.
    #[must_use]
    pub fn from_code(code: i64) -> Self {
        match code {
            0 => Self::Waiting,
            1 => Self::Transcoding,
            2 => Self::Uploading,
            3 => Self::CallingBack,
            99 => Self::Done,
            -1 => Self::TranscodeFailed,
            -2 => Self::UploadFailed,
            -3 => Self::CallbackFailed,
            other => Self::Unknown(other),
        }
    }

    /// The wire value.
    #[must_use]
    pub fn code(self) -> i64 {
        match self {
            Self::Waiting => 0,
            Self::Transcoding => 1,
            Self::Uploading => 2,
            Self::CallingBack => 3,
            Self::Done => 99,
            Self::TranscodeFailed => -1,
            Self::UploadFailed => -2,
            Self::CallbackFailed => -3,
            Self::Unknown(c) => c,
        }
    }

    /// Whether the task failed for good (−1, −2). −3 is not a failure: poll.
    #[must_use]
    pub fn is_failure(self) -> bool {
        matches!(self, Self::TranscodeFailed | Self::UploadFailed)
    }
}

/// Accepts a status as a number or as a string holding one (callbacks send strings).
fn status_as_code<S: serde::Serializer>(status: &TaskStatus, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_i64(status.code())
}

fn status_from_any<'de, D: Deserializer<'de>>(d: D) -> Result<TaskStatus, D::Error> {
    let v = Value::deserialize(d)?;
    let code = match &v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    code.map(TaskStatus::from_code)
        .ok_or_else(|| serde::de::Error::custom(format!("status must be an integer, got {v}")))
}

/// `getVideoTask`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct VideoTask {
    /// Where the task is.
    #[serde(deserialize_with = "status_from_any")]
    pub status: TaskStatus,
    /// The video in the customer's OSS (status 99).
    #[serde(rename = "videoUrl", default)]
    pub video_url: Option<String>,
}

/// The result callback's body: a hint only; confirm with `getVideoTask` before acting.
/// Serialized as it arrives (the status as its code), for the signal it becomes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Callback {
    /// The task.
    #[serde(rename = "taskId")]
    pub task_id: String,
    /// Its status (arrives as a string).
    #[serde(
        deserialize_with = "status_from_any",
        serialize_with = "status_as_code"
    )]
    pub status: TaskStatus,
    /// The video's full path on success, empty on failure.
    #[serde(default)]
    pub location: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_options_name_the_field() {
        let mut t = TransferVideo {
            file_name: "l1".into(),
            record_id: "r".into(),
            convert_mode: Some(ConvertMode::AvatarWhiteboard),
            resolution: Some(Resolution::P1080),
            video_bitrate: Some(8000),
            audio_bitrate: Some(64),
            frame_rate: Some(60),
        };
        assert!(t.validate().is_ok());
        t.video_bitrate = Some(8001);
        assert_eq!(t.validate().expect_err("bitrate").field, "video_bitrate");
        t.video_bitrate = None;
        t.audio_bitrate = Some(63);
        assert_eq!(t.validate().expect_err("audio").field, "audio_bitrate");
        t.audio_bitrate = None;
        t.frame_rate = Some(14);
        assert_eq!(t.validate().expect_err("fps").field, "frame_rate");
        t.frame_rate = None;
        t.record_id = " ".into();
        assert_eq!(t.validate().expect_err("record").field, "record_id");
    }

    #[test]
    fn wire_params_use_the_vendor_names() {
        let t = TransferVideo {
            file_name: "第1课-回放".into(),
            record_id: "64abb520a7ffbc00091f828e".into(),
            convert_mode: Some(ConvertMode::AvatarWhiteboard),
            resolution: Some(Resolution::P1080),
            video_bitrate: None,
            audio_bitrate: None,
            frame_rate: None,
        };
        let p = t.params();
        assert_eq!(p["convertMode"], json!(20));
        assert_eq!(p["resolution"], json!("1080P"));
        assert!(!p.contains_key("videoBitrate"));
    }

    #[test]
    fn callback_status_may_be_a_string() {
        let c: Callback =
            serde_json::from_str(r#"{"taskId":"t1","status":"99","location":"https://x/v.mp4"}"#)
                .expect("callback");
        assert_eq!(c.status, TaskStatus::Done);
        let c: Callback = serde_json::from_str(r#"{"taskId":"t1","status":-3}"#).expect("callback");
        assert_eq!(c.status, TaskStatus::CallbackFailed);
        assert!(!c.status.is_failure());
        assert!(serde_json::from_str::<Callback>(r#"{"taskId":"t1","status":"x"}"#).is_err());
    }
}
