//! WeClassroom's typed answers: lesson status and replay (API 18), server recordings of a user
//! in a lesson (API 21), a lesson's replay URL (API 24).

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// A lesson's state (API 18/29 `status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LessonStatus {
    /// 0: not started.
    NotStarted,
    /// 1: in class.
    InClass,
    /// 2: finished (the replay can exist).
    Finished,
    /// 3: expired.
    Expired,
    /// A value the document does not list.
    Unknown(i64),
}

impl LessonStatus {
    /// Its wire value.
    #[must_use]
    pub fn code(self) -> i64 {
        match self {
            Self::NotStarted => 0,
            Self::InClass => 1,
            Self::Finished => 2,
            Self::Expired => 3,
            Self::Unknown(other) => other,
        }
    }

    /// The status with wire value `code`.
    #[must_use]
    pub fn from_code(code: i64) -> Self {
        match code {
            0 => Self::NotStarted,
            1 => Self::InClass,
            2 => Self::Finished,
            3 => Self::Expired,
            other => Self::Unknown(other),
        }
    }
}

use crate::lenient::int as int_from_any;

fn status_from_any<'de, D: Deserializer<'de>>(d: D) -> Result<LessonStatus, D::Error> {
    int_from_any(d).map(LessonStatus::from_code)
}

/// Replay addresses come without a scheme (`zbywsvod.weclassroom.com/vod/…`); give them one.
#[must_use]
pub fn normalize_url(raw: &str) -> String {
    let raw = raw.trim();
    if raw.starts_with("http://") || raw.starts_with("https://") {
        raw.to_owned()
    } else {
        format!("https://{raw}")
    }
}

/// One lesson in API 18's answer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LessonReplayStatus {
    /// The lesson.
    #[serde(deserialize_with = "int_from_any")]
    pub lesson_id: i64,
    /// Its state.
    #[serde(deserialize_with = "status_from_any")]
    pub status: LessonStatus,
    /// The replay address (as sent; see [`normalize_url`]), when there is one.
    #[serde(default)]
    pub video: Option<String>,
}

/// One lesson in API 17's answer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ClassInfo {
    /// The lesson.
    #[serde(deserialize_with = "int_from_any")]
    pub lesson_id: i64,
    /// Its state.
    #[serde(deserialize_with = "status_from_any")]
    pub status: LessonStatus,
    /// When it began (`YYYY-MM-DD HH:MM:SS`, local time), once it did.
    #[serde(default)]
    pub actual_start_time: Option<String>,
    /// When it ended, once it did.
    #[serde(default)]
    pub actual_end_time: Option<String>,
}

/// API 24's answer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ReplayUrl {
    /// The lesson.
    #[serde(deserialize_with = "int_from_any")]
    pub lesson_id: i64,
    /// The lesson's name.
    #[serde(default)]
    pub name: Option<String>,
    /// The replay MP4.
    pub mp4url: String,
}

/// One server recording (API 21): the day it was made and its URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerRecording {
    /// `YYYYMMDD`.
    pub day: String,
    /// The MP4.
    pub url: String,
}

/// API 21's recordings: every `"<YYYYMMDD>": [url, …]` entry of the answer, whether the vendor
/// put them under `data` or beside `status` (its own example does the latter).
#[must_use]
pub fn recordings(answer: &Value) -> Vec<ServerRecording> {
    let mut out = Vec::new();
    for scope in [answer, answer.get("data").unwrap_or(&Value::Null)] {
        let Some(map) = scope.as_object() else {
            continue;
        };
        for (day, urls) in map {
            if day.len() != 8 || !day.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            for url in urls.as_array().into_iter().flatten() {
                if let Some(url) = url.as_str() {
                    out.push(ServerRecording {
                        day: day.clone(),
                        url: normalize_url(url),
                    });
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn api18_example_parses() {
        let v: Vec<LessonReplayStatus> = serde_json::from_value(json!([
            {"lesson_id": "10001", "status": 2, "video": "zbywsvod.weclassroom.com/vod/zby/_387334_60650.mp4"}
        ]))
        .expect("api 18");
        assert_eq!(v[0].lesson_id, 10001);
        assert_eq!(v[0].status, LessonStatus::Finished);
        assert_eq!(
            normalize_url(v[0].video.as_deref().unwrap_or_default()),
            "https://zbywsvod.weclassroom.com/vod/zby/_387334_60650.mp4"
        );
    }

    #[test]
    fn api21_recordings_are_found_beside_status() {
        let answer = json!({"20160401": ["https://r/1.mp4", "https://r/2.mp4"], "status": 1, "msg": "sucess", "script_flag": 1, "scribblelog": []});
        let r = recordings(&answer);
        assert_eq!(r.len(), 2);
        assert_eq!(r[1].day, "20160401");
    }
}
