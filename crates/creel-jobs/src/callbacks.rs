//! What the job kinds make of a verified vendor callback ([`CallbackListener`]): the signal
//! keys of the classroom jobs waiting on it ([`crate::classroom::keys`], which the jobs listen
//! on) and the archive jobs its auto-archive rules start, built from the kinds' typed specs.

use std::sync::Arc;

use creel_core::classroom::{ArchiveProduct, ArchiveTrigger};
use creel_core::{Config, IdempotencyScope, JobRequest};
use creel_vendors::baijiayun::callback::Callback;
use creel_vendors::baijiayun::model::PlaybackStatus;
use creel_vendors::{CallbackListener, VendorCallback};

use crate::Kind;
use crate::classroom::Deliver;
use crate::classroom::baijiayun::{PureVideoSpec, VodSpec};
use crate::classroom::keys;

/// The job kinds' [`CallbackListener`], reading the auto-archive rules of a configuration.
#[derive(Debug, Clone)]
pub struct CallbackRouting {
    config: Arc<Config>,
}

impl CallbackRouting {
    /// The routing for `config`.
    #[must_use]
    pub fn new(config: Arc<Config>) -> Self {
        Self { config }
    }
}

impl CallbackListener for CallbackRouting {
    fn keys(&self, account: &str, callback: &VendorCallback) -> Vec<String> {
        match callback {
            VendorCallback::Plaso(hint) => vec![keys::plaso_task(account, &hint.task_id)],
            VendorCallback::Baijiayun(Callback::PureVideo {
                room_id,
                session_id,
                video_id,
                ..
            }) => {
                let mut out = Vec::with_capacity(2);
                if let Some(room_id) = room_id {
                    out.push(keys::baijiayun_pure_video(account, *room_id, *session_id));
                }
                out.push(keys::baijiayun_video(account, *video_id));
                out
            }
            VendorCallback::Baijiayun(
                Callback::PlaybackTranscode { video_id, .. }
                | Callback::SetMainVersion { video_id, .. }
                | Callback::VodTranscode { video_id, .. }
                | Callback::AutoMatch { video_id, .. },
            ) => vec![keys::baijiayun_video(account, *video_id)],
        }
    }

    /// The archive job of every auto-archive rule the callback matches. The idempotency key is
    /// (account, room, session, version, product), so a second callback about the same lesson
    /// (a vendor retry with a new qid, a dual-teacher match after the transcode) adds nothing.
    fn follow_ups(&self, account: &str, callback: &VendorCallback) -> Vec<JobRequest> {
        let (trigger, room_id, session_id, version, video_id) = match callback {
            VendorCallback::Baijiayun(Callback::PlaybackTranscode {
                room_id,
                session_id,
                version,
                video_id,
                status: PlaybackStatus::Ready,
                ..
            }) => (
                ArchiveTrigger::Transcode,
                *room_id,
                *session_id,
                *version,
                *video_id,
            ),
            VendorCallback::Baijiayun(Callback::AutoMatch {
                room_id,
                session_id,
                video_id,
                status: PlaybackStatus::Ready,
                ..
            }) => (
                ArchiveTrigger::AutoMatch,
                *room_id,
                *session_id,
                None,
                *video_id,
            ),
            _ => return Vec::new(),
        };
        let rules = self.config.classroom.auto_archive.iter().filter(|rule| {
            rule.account == account
                && rule.on == trigger
                && (rule.room_ids.is_empty() || rule.room_ids.contains(&room_id))
        });
        rules
            .map(|rule| {
                let deliver = Some(Deliver {
                    profile: rule.profile.clone(),
                    key: rule.key.clone(),
                });
                let (kind, payload, product) = match rule.produce {
                    ArchiveProduct::Vod => (
                        VodSpec::NAME,
                        serde_json::to_value(VodSpec { video_id, deliver }),
                        "vod",
                    ),
                    ArchiveProduct::PureVideo => (
                        PureVideoSpec::NAME,
                        serde_json::to_value(PureVideoSpec {
                            room_id: Some(room_id),
                            session_id,
                            every_session: false,
                            record_template: None,
                            mixed_playback_id: None,
                            deliver,
                        }),
                        "pure_video",
                    ),
                };
                JobRequest {
                    account: Some(account.to_owned()),
                    idempotency_key: Some(format!(
                        "auto-archive:{account}:{room_id}:{}:{}:{product}",
                        session_id.unwrap_or(0),
                        version.unwrap_or(0)
                    )),
                    created_by: Some(rule.owner.clone()),
                    idempotency_scope: IdempotencyScope::Internal,
                    // A spec of plain fields always serializes; an empty payload would be
                    // refused by the validator the routes run it through.
                    ..JobRequest::new(kind, payload.unwrap_or_default())
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use creel_core::RequestValidator;
    use creel_core::classroom::AutoArchiveRule;
    use creel_core::config::{StorageProfile, Vendor, VendorAccount};

    fn config() -> Arc<Config> {
        let mut cfg = Config::default();
        let mut bjy = VendorAccount::new(Vendor::Baijiayun, "1", creel_core::Secret::new("k"));
        bjy.base_url = Some("https://x.at.baijiayun.com".into());
        cfg.accounts.insert("bjy".into(), bjy);
        cfg.storage.insert(
            "archive".into(),
            StorageProfile::Dir {
                path: "/tmp/creel".into(),
            },
        );
        for produce in [ArchiveProduct::Vod, ArchiveProduct::PureVideo] {
            cfg.classroom.auto_archive.push(AutoArchiveRule {
                account: "bjy".into(),
                on: ArchiveTrigger::Transcode,
                room_ids: vec![7],
                produce,
                profile: "archive".into(),
                key: Some("{account}/{parent}-{index}.mp4".into()),
                owner: "archiver".into(),
            });
        }
        Arc::new(cfg)
    }

    fn transcoded(room_id: i64, status: PlaybackStatus) -> VendorCallback {
        VendorCallback::Baijiayun(Callback::PlaybackTranscode {
            room_id,
            session_id: Some(2),
            version: None,
            video_id: 99,
            status,
            file_md5: None,
        })
    }

    #[test]
    fn a_matching_rule_makes_jobs_the_api_validator_accepts() {
        let config = config();
        let routing = CallbackRouting::new(Arc::clone(&config));
        let jobs = routing.follow_ups("bjy", &transcoded(7, PlaybackStatus::Ready));
        let kinds: Vec<&str> = jobs.iter().map(|j| j.kind.as_str()).collect();
        assert_eq!(kinds, ["baijiayun.vod", "baijiayun.pure_video"]);
        let validator = crate::Validator::new(Arc::clone(&config));
        for job in &jobs {
            validator
                .validate(job)
                .expect("an auto-archive job validates");
            assert_eq!(job.created_by.as_deref(), Some("archiver"));
            assert_eq!(job.idempotency_scope, IdempotencyScope::Internal);
        }
        assert_eq!(jobs[0].payload["video_id"], 99);
        assert_eq!(jobs[1].payload["session_id"], 2);
        assert_eq!(
            jobs[0].idempotency_key.as_deref(),
            Some("auto-archive:bjy:7:2:0:vod")
        );
    }

    #[test]
    fn other_rooms_failures_and_other_accounts_start_nothing() {
        let routing = CallbackRouting::new(config());
        assert!(
            routing
                .follow_ups("bjy", &transcoded(8, PlaybackStatus::Ready))
                .is_empty()
        );
        assert!(
            routing
                .follow_ups("bjy", &transcoded(7, PlaybackStatus::Failed))
                .is_empty()
        );
        assert!(
            routing
                .follow_ups("other", &transcoded(7, PlaybackStatus::Ready))
                .is_empty()
        );
        assert_eq!(
            routing.keys("bjy", &transcoded(7, PlaybackStatus::Ready)),
            ["bjy:bjy:video:99"]
        );
    }
}
