//! Configuration of the classroom job kinds: how each follows its vendor task (adaptive polling
//! with a deadline and a cap on status calls), what to do when Plaso reports an export creel did
//! not start, and how old a vendor callback may be.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, all_positive};

/// `[classroom]`: the classroom job kinds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClassroomConfig {
    /// Polling for kinds not listed in `poll`.
    pub default_poll: PollPolicy,
    /// Polling per job kind, e.g. `[classroom.poll."plaso.export"]`.
    pub poll: BTreeMap<String, PollPolicy>,
    /// What `plaso.export` does when Plaso answers 22001 (an export of this record is running)
    /// for a task creel did not start.
    pub plaso_unknown_task: UnknownTaskPolicy,
    /// How long `plaso.export` waits before asking again under `plaso_unknown_task = "wait"`.
    pub unknown_task_wait_ms: u64,
    /// Vendor callbacks older than this (by their own timestamp) are refused.
    pub callback_max_age_secs: u64,
    /// A callback makes a job check its vendor task at once, but at most once per this many
    /// milliseconds per job; such checks do not count toward the poll policy's
    /// `max_status_calls`, so callbacks cannot spend a job's budget.
    pub callback_check_min_interval_ms: u64,
    /// A Baijiayun pure video that API 20 still says does not exist (纯视频任务不存在) this
    /// long after creel started it fails, naming API 20's answer; before that it is taken as
    /// not listed yet.
    pub pure_video_missing_grace_secs: u64,
    /// Rules that turn verified Baijiayun callbacks into archive jobs,
    /// `[[classroom.auto_archive]]`.
    pub auto_archive: Vec<AutoArchiveRule>,
}

/// Set up once, every new lesson lands in the bucket: when a verified Baijiayun callback of
/// `on` arrives for account `account` (and one of `room_ids`, if given) with status 100, creel
/// enqueues a `produce` job that delivers into `profile`, at most once per (room, session,
/// version).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoArchiveRule {
    /// The Baijiayun account whose callbacks count.
    pub account: String,
    /// Which callback triggers the rule.
    pub on: ArchiveTrigger,
    /// Only these rooms (all rooms when empty).
    #[serde(default)]
    pub room_ids: Vec<i64>,
    /// What to archive.
    pub produce: ArchiveProduct,
    /// The storage profile to deliver into.
    pub profile: String,
    /// The object key template (see `deliver.key`).
    #[serde(default)]
    pub key: Option<String>,
    /// The principal that owns the jobs this rule enqueues (who may see them through the API).
    #[serde(default = "default_archive_owner")]
    pub owner: String,
}

/// The callback an auto-archive rule listens for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArchiveTrigger {
    /// A playback (or a crop version) finished transcoding.
    Transcode,
    /// A dual-teacher class was matched to its room automatically.
    AutoMatch,
}

/// What an auto-archive rule archives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArchiveProduct {
    /// The transcoded video itself (`baijiayun.vod` on the callback's `video_id`).
    Vod,
    /// The playback's pure video (`baijiayun.pure_video` on its room and session).
    PureVideo,
}

impl Default for ClassroomConfig {
    fn default() -> Self {
        Self {
            default_poll: PollPolicy::default(),
            poll: BTreeMap::new(),
            plaso_unknown_task: UnknownTaskPolicy::Wait,
            unknown_task_wait_ms: 300_000,
            callback_max_age_secs: 600,
            callback_check_min_interval_ms: 5_000,
            pure_video_missing_grace_secs: 1_800,
            auto_archive: Vec::new(),
        }
    }
}

impl ClassroomConfig {
    /// The polling policy of `kind`.
    #[must_use]
    pub fn poll_for(&self, kind: &str) -> &PollPolicy {
        self.poll.get(kind).unwrap_or(&self.default_poll)
    }

    /// Checks what serde cannot; the error names the field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let all = std::iter::once(("default_poll".to_owned(), &self.default_poll))
            .chain(self.poll.iter().map(|(k, p)| (format!("poll.\"{k}\""), p)));
        for (name, p) in all {
            p.validate()
                .map_err(|e| e.within(&format!("classroom.{name}")))?;
        }
        Ok(())
    }
}

/// Adaptive polling of one vendor task: the first status call `first_ms` after the submission,
/// then doubling (with ±`jitter` spread) up to `max_ms`; the job fails after `deadline_secs` or
/// `max_status_calls`, whichever comes first. A verified callback makes the next poll due now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PollPolicy {
    /// Wait before the first status call.
    pub first_ms: u64,
    /// The longest wait between status calls.
    pub max_ms: u64,
    /// Spread of each wait, as a fraction (0.2 = ±20 %).
    pub jitter: f64,
    /// The job fails this long after its task was submitted.
    pub deadline_secs: u64,
    /// The job fails after this many status calls.
    pub max_status_calls: u32,
}

impl Default for PollPolicy {
    fn default() -> Self {
        Self {
            first_ms: 10_000,
            max_ms: 300_000,
            jitter: 0.2,
            deadline_secs: 86_400,
            max_status_calls: 400,
        }
    }
}

impl PollPolicy {
    /// The wait before status call number `n` (0 = the first), before jitter.
    #[must_use]
    pub fn base_wait(&self, n: u32) -> Duration {
        let factor = 1u64.checked_shl(n.min(32)).unwrap_or(u64::MAX);
        Duration::from_millis(self.first_ms.saturating_mul(factor).min(self.max_ms))
    }

    /// The wait before status call `n`, spread by `jitter` using `unit` (a number in [0, 1)).
    #[must_use]
    pub fn wait(&self, n: u32, unit: f64) -> Duration {
        let base = self.base_wait(n).as_secs_f64();
        let spread = 1.0 + self.jitter * (2.0 * unit.clamp(0.0, 1.0) - 1.0);
        Duration::from_secs_f64((base * spread).max(0.0))
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.first_ms == 0 {
            return Err(ConfigError::invalid("first_ms", "must be positive"));
        }
        if self.max_ms < self.first_ms {
            return Err(ConfigError::invalid("max_ms", "must be at least first_ms"));
        }
        if !(0.0..1.0).contains(&self.jitter) {
            return Err(ConfigError::invalid(
                "jitter",
                format!("must be in [0, 1), not {}", self.jitter),
            ));
        }
        all_positive(
            "",
            &[
                ("deadline_secs", self.deadline_secs),
                ("max_status_calls", u64::from(self.max_status_calls)),
            ],
        )
    }
}

/// What to do about a vendor task creel did not start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownTaskPolicy {
    /// Ask again later (the other export will end); never submit while it runs.
    Wait,
    /// Fail the job with the vendor's code, for a person to decide.
    Fail,
}

fn default_archive_owner() -> String {
    "auto-archive".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_to_the_cap_and_jitter_stays_in_its_band() {
        let p = PollPolicy::default();
        assert_eq!(p.base_wait(0), Duration::from_secs(10));
        assert_eq!(p.base_wait(1), Duration::from_secs(20));
        assert_eq!(p.base_wait(5), Duration::from_secs(300));
        assert_eq!(p.base_wait(60), Duration::from_secs(300));
        assert_eq!(p.wait(0, 0.0), Duration::from_secs(8));
        assert_eq!(p.wait(0, 1.0), Duration::from_secs(12));
    }

    #[test]
    fn a_bad_policy_names_its_field() {
        let mut c = ClassroomConfig::default();
        c.poll.insert(
            "plaso.export".into(),
            PollPolicy {
                jitter: 1.5,
                ..PollPolicy::default()
            },
        );
        let err = c.validate().expect_err("jitter 1.5");
        assert_eq!(
            err.field(),
            "classroom.poll.\"plaso.export\".jitter",
            "{err}"
        );
    }
}
