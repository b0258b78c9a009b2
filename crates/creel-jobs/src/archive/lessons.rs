//! The lessons a backfill walks, per source: Baijiayun VOD videos (`getVideoList`), Baijiayun
//! playbacks (API 2, newest first), WeClassroom lessons (API 17, a day per call), or a list of
//! Plaso record ids (Plaso has no list API). A
//! page of lessons is read with one vendor call (through the account's quota), each lesson
//! carrying the archive job it becomes and what that is estimated to cost.

use chrono::{DateTime, Utc};
use creel_core::config::{Config, Vendor};
use creel_core::{CostBasis, CostLine, JobError};
use creel_vendors::VendorClients;
use creel_vendors::baijiayun::model::PlaybackStatus;
use creel_vendors::weclassroom::model::LessonStatus;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::budget::cost_line;

/// Where a backfill's lessons come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LessonSource {
    /// Baijiayun VOD videos (`getVideoList`), each archived by a `baijiayun.vod` job.
    BaijiayunVod,
    /// Baijiayun playbacks (API 2; original versions), each archived as a pure video by a
    /// `baijiayun.pure_video` job.
    BaijiayunPlayback,
    /// Plaso classroom records named in `record_ids`, each exported by a `plaso.export` job.
    PlasoRecords,
    /// WeClassroom lessons by the time they began (API 17, one day per call), finished ones
    /// each archived by a `weclassroom.replay` job.
    WeclassroomLessons,
}

impl LessonSource {
    /// The name in payloads, keys and the CLI.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BaijiayunVod => "baijiayun_vod",
            Self::BaijiayunPlayback => "baijiayun_playback",
            Self::PlasoRecords => "plaso_records",
            Self::WeclassroomLessons => "weclassroom_lessons",
        }
    }

    /// The vendor whose account serves the lessons.
    #[must_use]
    pub fn vendor(self) -> Vendor {
        match self {
            Self::BaijiayunVod | Self::BaijiayunPlayback => Vendor::Baijiayun,
            Self::PlasoRecords => Vendor::Plaso,
            Self::WeclassroomLessons => Vendor::Weclassroom,
        }
    }
}

impl std::str::FromStr for LessonSource {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            Self::BaijiayunVod,
            Self::BaijiayunPlayback,
            Self::PlasoRecords,
            Self::WeclassroomLessons,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
        .ok_or_else(|| {
            format!(
                "unknown source {s:?}: baijiayun_vod, baijiayun_playback, plaso_records or weclassroom_lessons"
            )
        })
    }
}

/// One lesson to archive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lesson {
    /// Its id at the vendor, with its version where lessons have versions (`184548`,
    /// `<room>-<session>-v<version>`, a record id): what deduplication is keyed by.
    pub id: String,
    /// Its name, when the vendor lists one.
    #[serde(default)]
    pub name: Option<String>,
    /// When the vendor made it.
    #[serde(default)]
    pub created: Option<DateTime<Utc>>,
    /// The kind of the job that archives it.
    pub kind: String,
    /// That job's payload, without its `deliver`.
    pub payload: Value,
    /// What archiving it is estimated to cost (traffic or transcoded hours), if anything.
    #[serde(default)]
    pub estimate: Option<CostLine>,
}

/// A page of lessons.
#[derive(Debug, Clone, PartialEq)]
pub struct LessonPage {
    /// The lessons of the page inside the window (newest first for the Baijiayun lists).
    pub lessons: Vec<Lesson>,
    /// No page comes after this one.
    pub last: bool,
}

/// The window of a scan and its source's own inputs.
#[derive(Debug, Clone, Copy)]
pub struct Window<'a> {
    /// Lessons made at or after this.
    pub since: DateTime<Utc>,
    /// Lessons made at or before this.
    pub until: DateTime<Utc>,
    /// Plaso's record ids.
    pub record_ids: &'a [String],
}

impl Window<'_> {
    fn holds(&self, at: Option<DateTime<Utc>>) -> bool {
        at.is_none_or(|t| t >= self.since && t <= self.until)
    }
}

/// Reads page `page` (from 1) of `source` for `account`: one vendor list call for the
/// Baijiayun sources, none for Plaso's ids.
///
/// # Errors
/// The vendor call failed (classified as every vendor error is).
pub async fn list_page(
    vendors: &VendorClients,
    config: &Config,
    account: &str,
    source: LessonSource,
    window: Window<'_>,
    page: u32,
) -> Result<LessonPage, JobError> {
    let calendar = config.costs.calendar();
    let size = config.archive.page_size;
    let costs = &config.costs;
    match source {
        LessonSource::BaijiayunVod => {
            let since = calendar.format_time(window.since);
            let answer = vendors
                .baijiayun(account)?
                .vod_list(page, size, Some(&since))
                .await?;
            let listed = answer.list.len();
            let lessons = answer
                .list
                .into_iter()
                .map(|v| Lesson {
                    id: v.video_id.to_string(),
                    name: v.name,
                    created: v
                        .create_time
                        .as_deref()
                        .and_then(|t| calendar.parse_time(t)),
                    kind: "baijiayun.vod".into(),
                    payload: json!({"video_id": v.video_id}),
                    estimate: traffic(config, account, v.total_size),
                })
                .filter(|l| window.holds(l.created))
                .collect();
            Ok(LessonPage {
                lessons,
                last: is_last(answer.total, page, size, listed),
            })
        }
        LessonSource::BaijiayunPlayback => {
            let answer = vendors
                .baijiayun(account)?
                .playback_list(None, page, size)
                .await?;
            let listed = answer.list.len();
            // Newest first: a page whose every playback is older than the window ends the walk.
            let older = answer.list.iter().all(|p| {
                p.create_time
                    .as_deref()
                    .and_then(|t| calendar.parse_time(t))
                    .is_some_and(|t| t < window.since)
            });
            let lessons = answer
                .list
                .into_iter()
                .filter(|p| p.version.unwrap_or(0) == 0 && p.status == PlaybackStatus::Ready)
                .map(|p| {
                    let session = p.session_id.filter(|s| *s > 0);
                    let mut payload = json!({"room_id": p.room_id});
                    if let Some(s) = session {
                        payload["session_id"] = json!(s);
                    }
                    Lesson {
                        id: format!("{}-{}", p.room_id, session.unwrap_or(0)),
                        name: p.name,
                        created: p
                            .create_time
                            .as_deref()
                            .and_then(|t| calendar.parse_time(t)),
                        kind: "baijiayun.pure_video".into(),
                        payload,
                        estimate: traffic(config, account, p.total_transcode_size),
                    }
                })
                .filter(|l| window.holds(l.created))
                .collect();
            Ok(LessonPage {
                lessons,
                last: older || is_last(answer.total, page, size, listed),
            })
        }
        LessonSource::WeclassroomLessons => {
            // API 17 has no pages: page n is the n-th day of the window.
            let from = window.since + chrono::Duration::days(i64::from(page) - 1);
            let to =
                (from + chrono::Duration::days(1) - chrono::Duration::seconds(1)).min(window.until);
            let listed = vendors
                .weclassroom(account)?
                .class_info(&calendar.format_time(from), &calendar.format_time(to))
                .await?;
            let lessons = listed
                .into_iter()
                .filter(|l| l.status == LessonStatus::Finished)
                .map(|l| Lesson {
                    id: l.lesson_id.to_string(),
                    name: None,
                    created: l
                        .actual_start_time
                        .as_deref()
                        .and_then(|t| calendar.parse_time(t)),
                    kind: "weclassroom.replay".into(),
                    payload: json!({"lesson_id": l.lesson_id}),
                    estimate: None,
                })
                .filter(|l| window.holds(l.created))
                .collect();
            Ok(LessonPage {
                lessons,
                last: to >= window.until,
            })
        }
        LessonSource::PlasoRecords => {
            let start = (page as usize - 1).saturating_mul(size as usize);
            let ids = window.record_ids.iter().skip(start).take(size as usize);
            let hours = costs.estimated_hours(account);
            let lessons = ids
                .map(|id| Lesson {
                    id: id.clone(),
                    name: None,
                    created: None,
                    kind: "plaso.export".into(),
                    payload: json!({"record_id": id, "file_name": id}),
                    estimate: cost_line(costs, Vendor::Plaso, account, hours, CostBasis::Estimated),
                })
                .collect();
            Ok(LessonPage {
                lessons,
                last: start + size as usize >= window.record_ids.len(),
            })
        }
    }
}

/// The estimated traffic cost of downloading `bytes` (as the list gives them) from Baijiayun.
fn traffic(config: &Config, account: &str, bytes: Option<i64>) -> Option<CostLine> {
    #[allow(clippy::cast_precision_loss)]
    let bytes = bytes.filter(|b| *b > 0)? as f64;
    cost_line(
        &config.costs,
        Vendor::Baijiayun,
        account,
        bytes,
        CostBasis::Estimated,
    )
}

/// Whether page `page` of `size` was the last: the vendor's total says so, or the page was
/// short.
fn is_last(total: Option<i64>, page: u32, size: u32, listed: usize) -> bool {
    let seen = i64::from(page) * i64::from(size);
    listed < size as usize || total.is_some_and(|t| seen >= t)
}
