//! Baijiayun's callbacks (playback transcode, pure video, set-main-version, VOD transcode,
//! dual-teacher auto-match): form POSTs signed with the same rule as requests, over every
//! received field but `sign` (empty values included; the field set differs by `status`).
//! [`verify`] checks the sign in constant time and the timestamp's age, reads the fields of the
//! callback's kind, and names the whole signed content by a digest: the receiver claims that
//! digest once (in Redis, for the whole fleet) against replays. Answer [`ACK`].

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::model::{PlaybackStatus, VodStatus};
use super::sign;

/// The body Baijiayun expects back.
pub const ACK: &str = r#"{"code":0}"#;

/// What a verified callback says. Serialized (statuses as their codes) as the payload of the
/// signal it becomes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Callback {
    /// A playback started generating (20), failed (30) or is transcoded (100).
    PlaybackTranscode {
        /// The room.
        room_id: i64,
        /// The session (long-term rooms).
        session_id: Option<i64>,
        /// The crop version, when the callback is about one.
        version: Option<i64>,
        /// The video.
        video_id: i64,
        /// The status.
        #[serde(serialize_with = "playback_code")]
        status: PlaybackStatus,
        /// MD5 of the file (20 and 100).
        file_md5: Option<String>,
    },
    /// A playback's pure video is done (`is_from_playback`).
    PureVideo {
        /// The room; absent for a merged playback's pure video (API 38), whose callback the
        /// document does not describe.
        room_id: Option<i64>,
        /// The session.
        session_id: Option<i64>,
        /// The version.
        version: Option<i64>,
        /// The pure video's id.
        video_id: i64,
        /// The status code as sent.
        status: i64,
        /// MD5 of the file.
        file_md5: Option<String>,
    },
    /// A playback's main version was set.
    SetMainVersion {
        /// The room.
        room_id: i64,
        /// The session.
        session_id: Option<i64>,
        /// The version.
        version: i64,
        /// The video.
        video_id: i64,
        /// 0 for the main version.
        version_type: i64,
    },
    /// A VOD video finished uploading (20), failed (30) or is transcoded (100).
    VodTranscode {
        /// The video.
        video_id: i64,
        /// The status.
        #[serde(serialize_with = "vod_code")]
        status: VodStatus,
        /// MD5 of the file (100).
        file_md5: Option<String>,
        /// The file's size in bytes (100).
        total_size: Option<i64>,
    },
    /// Dual-teacher: a playback was matched to a scheduled lesson.
    AutoMatch {
        /// The room.
        room_id: i64,
        /// The lesson's serial number.
        serial_number: String,
        /// The session.
        session_id: Option<i64>,
        /// The video.
        video_id: i64,
        /// The status.
        #[serde(serialize_with = "playback_code")]
        status: PlaybackStatus,
        /// MD5 of the file.
        file_md5: Option<String>,
    },
}

/// A verified callback: what it says and its unique id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The callback.
    pub callback: Callback,
    /// Its `qid`.
    pub qid: String,
    /// The SHA-256 (hex) of everything the sign covers: the replay key the receiver claims
    /// once (and releases if processing fails). Keying on the `qid` alone let a captured
    /// callback be replayed with its fields rearranged into a new qid.
    pub digest: String,
    /// Its `timestamp`.
    pub timestamp: u64,
}

/// Why a callback is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    /// No `sign`, or a wrong one.
    #[error("bad sign")]
    BadSign,
    /// A field the callback's kind needs is missing or not a number.
    #[error("missing or malformed field `{0}`")]
    MissingField(&'static str),
    /// `timestamp` is further from now than allowed.
    #[error("stale timestamp: {age_secs}s from now, more than {max_secs}s")]
    Stale {
        /// Distance from now.
        age_secs: u64,
        /// The allowed distance.
        max_secs: u64,
    },
}

fn playback_code<S: serde::Serializer>(status: &PlaybackStatus, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_i64(status.code())
}

fn vod_code<S: serde::Serializer>(status: &VodStatus, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_i64(status.code())
}

fn int(fields: &BTreeMap<String, String>, k: &'static str) -> Result<i64, CallbackError> {
    fields
        .get(k)
        .and_then(|v| v.trim().parse().ok())
        .ok_or(CallbackError::MissingField(k))
}

fn opt_int(fields: &BTreeMap<String, String>, k: &str) -> Option<i64> {
    fields.get(k).and_then(|v| v.trim().parse().ok())
}

fn opt_text(fields: &BTreeMap<String, String>, k: &str) -> Option<String> {
    fields.get(k).filter(|v| !v.is_empty()).cloned()
}

/// Reads the callback's kind and fields (after the sign was checked).
fn read(fields: &BTreeMap<String, String>) -> Result<Callback, CallbackError> {
    let status = int(fields, "status")?;
    let video_id = int(fields, "video_id")?;
    let file_md5 = opt_text(fields, "file_md5");
    if let Some(serial) = opt_text(fields, "serial_number") {
        return Ok(Callback::AutoMatch {
            room_id: int(fields, "room_id")?,
            serial_number: serial,
            session_id: opt_int(fields, "session_id"),
            video_id,
            status: PlaybackStatus::from_code(status),
            file_md5,
        });
    }
    if fields.contains_key("is_from_playback") {
        return Ok(Callback::PureVideo {
            room_id: opt_int(fields, "room_id"),
            session_id: opt_int(fields, "session_id"),
            version: opt_int(fields, "version"),
            video_id,
            status,
            file_md5,
        });
    }
    if fields.contains_key("version_type") {
        return Ok(Callback::SetMainVersion {
            room_id: int(fields, "room_id")?,
            session_id: opt_int(fields, "session_id"),
            version: int(fields, "version")?,
            video_id,
            version_type: int(fields, "version_type")?,
        });
    }
    if fields.contains_key("room_id") {
        return Ok(Callback::PlaybackTranscode {
            room_id: int(fields, "room_id")?,
            session_id: opt_int(fields, "session_id"),
            version: opt_int(fields, "version"),
            video_id,
            status: PlaybackStatus::from_code(status),
            file_md5,
        });
    }
    Ok(Callback::VodTranscode {
        video_id,
        status: VodStatus::from_code(status),
        file_md5,
        total_size: opt_int(fields, "total_size"),
    })
}

/// Verifies a callback's form `fields`: sign under `partner_key`, `timestamp` within
/// `max_age` of `now_unix`, no `&` or `=` inside a field, and the fields its kind needs.
/// Whether it was seen before is the receiver's check, on [`Verified::digest`].
pub fn verify(
    fields: &BTreeMap<String, String>,
    partner_key: &str,
    now_unix: u64,
    max_age: Duration,
) -> Result<Verified, CallbackError> {
    // The signed string joins `k=v` with `&`: a `&` or `=` inside a name or value would let
    // different fields sign alike. Baijiayun never sends them there.
    let ambiguous = |t: &String| t.contains(['&', '=']);
    if fields.iter().any(|(k, v)| ambiguous(k) || ambiguous(v)) {
        return Err(CallbackError::BadSign);
    }
    if !sign::verify(fields, partner_key) {
        return Err(CallbackError::BadSign);
    }
    let digest = {
        use sha2::{Digest, Sha256};
        hex::encode(Sha256::digest(
            sign::canonical_string(fields, "").as_bytes(),
        ))
    };
    let timestamp = u64::try_from(int(fields, "timestamp")?)
        .map_err(|_| CallbackError::MissingField("timestamp"))?;
    let age = now_unix.abs_diff(timestamp);
    if age > max_age.as_secs() {
        return Err(CallbackError::Stale {
            age_secs: age,
            max_secs: max_age.as_secs(),
        });
    }
    let qid = opt_text(fields, "qid").ok_or(CallbackError::MissingField("qid"))?;
    let callback = read(fields)?;
    Ok(Verified {
        callback,
        qid,
        digest,
        timestamp,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "8jewu3j93jjewi3jwj90093jkyu";

    fn signed(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        let mut f: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let s = sign::sign(&f, KEY);
        f.insert("sign".into(), s);
        f
    }

    #[test]
    fn set_main_version_and_failed_transcode_callbacks_are_read() {
        let f = signed(&[
            ("room_id", "12345678"),
            ("session_id", "0"),
            ("version", "2"),
            ("video_id", "123"),
            ("version_type", "0"),
            ("status", "100"),
            ("qid", "q-1"),
            ("timestamp", "1700000000"),
        ]);
        let v = verify(&f, KEY, 1_700_000_010, Duration::from_secs(600)).expect("ok");
        assert!(matches!(
            v.callback,
            Callback::SetMainVersion {
                version: 2,
                version_type: 0,
                ..
            }
        ));
        // A failed transcode (30) carries no file_md5 and an empty preface_url: empty values
        // are signed too.
        let f = signed(&[
            ("room_id", "12345678"),
            ("video_id", "124"),
            ("status", "30"),
            ("preface_url", ""),
            ("qid", "q-2"),
            ("timestamp", "1700000000"),
        ]);
        let v = verify(&f, KEY, 1_700_000_010, Duration::from_secs(600)).expect("ok");
        assert!(matches!(
            v.callback,
            Callback::PlaybackTranscode {
                status: PlaybackStatus::Failed,
                file_md5: None,
                ..
            }
        ));
        let mut tampered = f.clone();
        tampered.insert("preface_url".into(), "https://x".into());
        assert_eq!(
            verify(&tampered, KEY, 1_700_000_010, Duration::from_secs(600),),
            Err(CallbackError::BadSign),
            "an empty field is signed too"
        );
    }
}
