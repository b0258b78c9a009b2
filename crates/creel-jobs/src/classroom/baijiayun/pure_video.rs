//! `baijiayun.pure_video`: the pure video of one playback (API 16), of every playback of a room
//! (API 19) or of a merged playback (API 38 → 39), followed until its URL is served (API 20 / 39).

use creel_core::config::Vendor;
use creel_core::{Config, JobError, JobRequestError};
use creel_queue::JobContext;
use creel_vendors::baijiayun::Playback;
use creel_vendors::baijiayun::callback::Callback;
use creel_vendors::baijiayun::model::PlaybackStatus;
use creel_vendors::{Received, VendorError};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{missing, not_ready};
use crate::JobDeps;
use crate::classroom::{
    CallbackTrust, Deliver, Output, PollState, Polled, SubmitFailed, Uncertain, VendorTask,
    account, keys, task_failed,
};
use crate::vendor_source::SourceRef;

/// The page size creel asks API 2 for, and the most pages it reads for one room.
const PLAYBACK_PAGE: u32 = 100;
const PLAYBACK_PAGES_MAX: u32 = 50;

/// The payload of `baijiayun.pure_video`: give `room_id` (with `session_id` for one session of
/// a long-term room, or `every_session` for all of the room's playbacks), or
/// `mixed_playback_id` for a merged playback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PureVideoSpec {
    /// The room.
    #[serde(default)]
    pub room_id: Option<i64>,
    /// One session of a long-term room.
    #[serde(default)]
    pub session_id: Option<i64>,
    /// Every playback of the room (API 19) instead of one (API 16).
    #[serde(default)]
    pub every_session: bool,
    /// API 16's `record_template`.
    #[serde(default)]
    pub record_template: Option<u32>,
    /// A merged playback (API 38 → 39) instead of a room.
    #[serde(default)]
    pub mixed_playback_id: Option<i64>,
    /// Copy the videos into a storage profile.
    #[serde(default)]
    pub deliver: Option<Deliver>,
}

/// The pure videos being followed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum PureVideoTask {
    /// Playbacks of a room: (room, session) each.
    Playbacks {
        /// The room.
        room_id: i64,
        /// The sessions (`None`: the room has none).
        sessions: Vec<Option<i64>>,
    },
    /// A merged playback.
    Merged {
        /// The merged playback.
        mixed_playback_id: i64,
    },
}

impl VendorTask for PureVideoSpec {
    const NAME: &'static str = "baijiayun.pure_video";
    const VENDOR: Vendor = Vendor::Baijiayun;
    type Task = PureVideoTask;

    /// The combination of fields; the error names the field.
    fn check(&self, _: &Config) -> Result<(), JobRequestError> {
        use creel_core::JobRequestError as E;
        match (self.room_id, self.mixed_playback_id) {
            (Some(_), None) => {
                if self.every_session && self.session_id.is_some() {
                    return Err(E::new(
                        "payload.session_id",
                        "give session_id or every_session, not both",
                    ));
                }
                Ok(())
            }
            (None, Some(_)) => {
                if self.session_id.is_some() || self.every_session || self.record_template.is_some()
                {
                    return Err(E::new(
                        "payload.mixed_playback_id",
                        "a merged playback takes no session_id, every_session or record_template",
                    ));
                }
                Ok(())
            }
            _ => Err(E::new(
                "payload.room_id",
                "give exactly one of room_id and mixed_playback_id",
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
    ) -> Result<PureVideoTask, SubmitFailed> {
        let c = deps.vendors.baijiayun(account(ctx)?)?;
        if let Some(mixed) = self.mixed_playback_id {
            // API 39 cannot tell "never started" from "generating": after an unrecorded
            // submission, adopt rather than pay again; the deadline catches a task that never was.
            if uncertain == Uncertain::No {
                c.merge_pure_video(mixed).await?;
            }
            return Ok(PureVideoTask::Merged {
                mixed_playback_id: mixed,
            });
        }
        let room_id = self
            .room_id
            .ok_or_else(|| SubmitFailed::from(JobError::permanent("payload.room_id is missing")))?;
        if self.every_session {
            // API 19 starts the playbacks without a pure video and names them; it never starts
            // one twice, so a repeat after a lost answer costs nothing and names none. What it
            // names are "source video fids": video ids by the document's words, session ids by
            // its example. The room's playback list (API 2) resolves either, and every
            // transcoded playback of the room is followed, named or not (those it did not name
            // were started before).
            let started = c.room_pure_video(room_id).await?;
            let playbacks = room_playbacks(c, room_id).await?;
            let sessions = sessions_of(room_id, &started.success_fids, &playbacks);
            return Ok(PureVideoTask::Playbacks { room_id, sessions });
        }
        let playback = Playback {
            room_id,
            session_id: self.session_id,
        };
        // API 16 bills every call: after an unrecorded submission, ask API 20 first.
        let exists = match uncertain {
            Uncertain::No => false,
            Uncertain::Yes => match c.pure_video_url(playback, None).await {
                Ok(_) => true,
                Err(VendorError::Vendor {
                    code: 1, message, ..
                }) => !message.contains("不存在"),
                Err(e) => return Err(e.into()),
            },
        };
        if !exists {
            c.pure_video(playback, self.record_template).await?;
        }
        Ok(PureVideoTask::Playbacks {
            room_id,
            sessions: vec![self.session_id],
        })
    }

    fn keys(&self, account: &str, task: &PureVideoTask) -> Vec<String> {
        match task {
            PureVideoTask::Playbacks { room_id, sessions } => sessions
                .iter()
                .map(|s| keys::baijiayun_pure_video(account, *room_id, *s))
                .collect(),
            PureVideoTask::Merged { .. } => Vec::new(),
        }
    }

    async fn poll(
        &self,
        ctx: &JobContext,
        deps: &JobDeps,
        task: &PureVideoTask,
        state: &mut PollState<'_>,
    ) -> Result<Polled, JobError> {
        let c = deps.vendors.baijiayun(account(ctx)?)?;
        match task {
            PureVideoTask::Merged { mixed_playback_id } => {
                state.count_call();
                match c.merge_pure_video_info(*mixed_playback_id).await {
                    Ok(info) => {
                        let (_, r) = info.best().ok_or_else(|| {
                            JobError::retryable("the merged pure video lists no rendition yet")
                        })?;
                        Ok(Polled::Done {
                            facts: json!({"vendor": "baijiayun", "mixed_playback_id": mixed_playback_id}),
                            outputs: vec![Output {
                                facts: json!({"mixed_playback_id": mixed_playback_id, "url": r.url, "size": r.size, "duration": r.duration}),
                                source: SourceRef::BaijiayunMergedPureVideo {
                                    mixed_playback_id: *mixed_playback_id,
                                }
                                .into(),
                                md5: None,
                            }],
                        })
                    }
                    Err(e) if not_ready(&e) => Ok(Polled::Pending(json!({"merged": "generating"}))),
                    Err(e) => Err(e.into()),
                }
            }
            PureVideoTask::Playbacks { room_id, sessions } => {
                let mut outputs = Vec::with_capacity(sessions.len());
                for (i, session) in sessions.iter().enumerate() {
                    let signalled = match state
                        .signals
                        .get(i)
                        .and_then(Option::as_ref)
                        .and_then(Received::baijiayun)
                    {
                        Some(Callback::PureVideo {
                            status, file_md5, ..
                        }) => Some((*status, file_md5.clone())),
                        _ => None,
                    };
                    let status = signalled.as_ref().map(|(status, _)| *status);
                    if status.is_some_and(|s| s != 100 && s != 1 && s != 20 && s != 10) {
                        return Err(task_failed(
                            Vendor::Baijiayun,
                            status.unwrap_or(0),
                            "pure video generation failed (callback)",
                        ));
                    }
                    let playback = Playback {
                        room_id: *room_id,
                        session_id: *session,
                    };
                    // A session whose URL an earlier poll got is not asked again.
                    let field = format!("url_{i}");
                    let url = match state.recalled::<String>(&field) {
                        Some(url) => url,
                        None => {
                            state.count_call();
                            match c.pure_video_url(playback, None).await {
                                Ok(u) => {
                                    state.remember(&field, &u.url);
                                    u.url
                                }
                                Err(e) if not_ready(&e) => {
                                    return Ok(Polled::Pending(
                                        json!({"session": session, "pure_video": "generating"}),
                                    ));
                                }
                                Err(e) if missing(&e) => {
                                    return not_started(deps, state, *room_id, *session, &e);
                                }
                                Err(e) => return Err(e.into()),
                            }
                        }
                    };
                    let md5 = signalled.and_then(|(_, md5)| md5);
                    outputs.push(Output {
                        facts: json!({"room_id": room_id, "session_id": session, "url": url, "file_md5": md5}),
                        source: SourceRef::BaijiayunPureVideo { room_id: *room_id, session_id: *session, version: None }.into(),
                        md5: md5.map(|m| m.to_ascii_lowercase()),
                    });
                }
                Ok(Polled::Done {
                    facts: json!({"vendor": "baijiayun", "room_id": room_id, "sessions": sessions}),
                    outputs,
                })
            }
        }
    }
}

/// Every playback of a room, from API 2's pages.
async fn room_playbacks(
    c: &creel_vendors::BaijiayunClient,
    room_id: i64,
) -> Result<Vec<creel_vendors::baijiayun::model::PlaybackItem>, VendorError> {
    let mut all = Vec::new();
    for page in 1..=PLAYBACK_PAGES_MAX {
        let got = c.playback_list(Some(room_id), page, PLAYBACK_PAGE).await?;
        let last = got.list.len() < PLAYBACK_PAGE as usize
            || got
                .total
                .is_some_and(|t| (all.len() + got.list.len()) as i64 >= t);
        all.extend(got.list.into_iter().filter(|p| p.room_id == room_id));
        if last {
            break;
        }
    }
    Ok(all)
}

/// The sessions to follow after API 19: each fid resolved as a video id or a session id of the
/// room's playbacks (a fid neither names is taken as a session id), then every other
/// transcoded original playback of the room. `None` is a room without sessions.
fn sessions_of(
    room_id: i64,
    fids: &[String],
    playbacks: &[creel_vendors::baijiayun::model::PlaybackItem],
) -> Vec<Option<i64>> {
    let session =
        |p: &creel_vendors::baijiayun::model::PlaybackItem| p.session_id.filter(|s| *s != 0);
    let mut sessions: Vec<Option<i64>> = Vec::new();
    let mut add = |s: Option<i64>| {
        if !sessions.contains(&s) {
            sessions.push(s);
        }
    };
    for fid in fids {
        let Ok(n) = fid.trim().parse::<i64>() else {
            tracing::warn!(
                room_id,
                fid,
                "API 19 named a fid that is not a number; ignored"
            );
            continue;
        };
        match playbacks
            .iter()
            .find(|p| p.video_id == n)
            .or_else(|| playbacks.iter().find(|p| p.session_id == Some(n)))
        {
            Some(p) => add(session(p)),
            None => add(Some(n)),
        }
    }
    for p in playbacks {
        if p.status == PlaybackStatus::Ready && p.version.unwrap_or(0) == 0 {
            add(session(p));
        }
    }
    sessions
}

/// API 20 says a playback has no pure-video task: pending within the grace period after the
/// submission (the vendor may not list it yet), a failure naming API 20's answer after it.
fn not_started(
    deps: &JobDeps,
    state: &PollState<'_>,
    room_id: i64,
    session: Option<i64>,
    answer: &VendorError,
) -> Result<Polled, JobError> {
    let grace = std::time::Duration::from_secs(deps.config.classroom.pure_video_missing_grace_secs);
    if state.since_submit < grace {
        return Ok(Polled::Pending(
            json!({"session": session, "pure_video": "not listed yet", "vendor": answer.to_string()}),
        ));
    }
    let VendorError::Vendor { code, message, .. } = answer else {
        return Err(JobError::permanent(answer.to_string()));
    };
    Err(JobError::Vendor(creel_core::VendorFailure::answered(
        Vendor::Baijiayun,
        creel_vendors::baijiayun::PURE_VIDEO_URL.name,
        *code,
        format!(
            "room {room_id} session {}: API 20 still answers {message:?} {} s after the pure video was started (classroom.pure_video_missing_grace_secs)",
            session.map_or_else(|| "-".to_owned(), |s| s.to_string()),
            state.since_submit.as_secs()
        ),
    )))
}
