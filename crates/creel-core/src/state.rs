//! Job states and the one function that says which state change is legal. The queue's Lua
//! scripts are handed the states this function names, so Redis and Rust cannot disagree.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for a time: a delayed enqueue, a retry backoff, or the job's next step (a poll).
    Scheduled,
    /// Due and waiting for a free worker.
    Ready,
    /// Leased by a worker that is running one of its steps.
    Running,
    /// Its next step would pass its vendor account's budget: it waits for the day or month to
    /// roll over (when it is due again) or for the budget to be raised (which wakes it).
    WaitingBudget,
    /// Finished with a result. Terminal.
    Succeeded,
    /// Failed for good (permanent error, attempts spent, undecodable payload): the dead letters.
    /// Terminal until requeued.
    Failed,
    /// Cancelled by a user. Terminal until requeued.
    Cancelled,
}

impl JobState {
    /// Every state, in the order listings show them.
    pub const ALL: [JobState; 7] = [
        Self::Scheduled,
        Self::Ready,
        Self::Running,
        Self::WaitingBudget,
        Self::Succeeded,
        Self::Failed,
        Self::Cancelled,
    ];

    /// The name used in Redis keys, the API and events.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Ready => "ready",
            Self::Running => "running",
            Self::WaitingBudget => "waiting_budget",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// Whether the job has finished (a completion event has been emitted for this run).
    #[must_use]
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text is not a job state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown job state {0:?}: expected one of scheduled, ready, running, waiting_budget, succeeded, failed, cancelled"
)]
pub struct UnknownState(pub String);

impl FromStr for JobState {
    type Err = UnknownState;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| UnknownState(s.to_owned()))
    }
}

/// Something that happens to a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// A scheduled job fell due.
    Promote,
    /// A worker took a lease on a ready job.
    Lease,
    /// The step finished the job.
    Succeed,
    /// The step finished and scheduled the job's next step (immediately or later).
    ContinueLater,
    /// The step failed retryably, or asked to run again later.
    RetryLater,
    /// The step would pass a budget: the job waits for the budget.
    WaitForBudget,
    /// The step failed for good (or attempts are spent, or the payload does not decode).
    Fail,
    /// The lease expired (the worker died or stalled) and attempts remain: back to ready.
    LeaseExpired,
    /// A worker gave back a lease it had not started (graceful shutdown).
    Release,
    /// A user cancelled a job that is not running, or a running job reached a step boundary
    /// with a cancellation pending.
    Cancel,
    /// A user requeued a dead or cancelled job.
    Requeue,
}

/// The transition is not allowed from that state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a job in state {from} cannot take transition {transition:?}")]
pub struct InvalidTransition {
    /// The state the job was in.
    pub from: JobState,
    /// The transition that was refused.
    pub transition: Transition,
}

/// The single transition function: the state a job in `from` moves to on `t`.
///
/// `ContinueLater` and `RetryLater` go to [`JobState::Scheduled`]; the queue promotes a job whose
/// time has already come at its next fetch.
pub fn transition(from: JobState, t: Transition) -> Result<JobState, InvalidTransition> {
    use JobState as S;
    use Transition as T;
    let to = match (from, t) {
        (S::Scheduled | S::WaitingBudget, T::Promote) => S::Ready,
        (S::Running, T::WaitForBudget) => S::WaitingBudget,
        (S::Ready, T::Lease) => S::Running,
        (S::Running, T::Succeed) => S::Succeeded,
        (S::Running, T::ContinueLater | T::RetryLater) => S::Scheduled,
        (S::Running | S::Ready | S::Scheduled | S::WaitingBudget, T::Fail) => S::Failed,
        (S::Running, T::LeaseExpired | T::Release) => S::Ready,
        (S::Ready | S::Scheduled | S::Running | S::WaitingBudget, T::Cancel) => S::Cancelled,
        (S::Failed | S::Cancelled, T::Requeue) => S::Ready,
        (from, transition) => return Err(InvalidTransition { from, transition }),
    };
    Ok(to)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_states_only_leave_by_requeue() {
        let all_transitions = [
            Transition::Promote,
            Transition::Lease,
            Transition::Succeed,
            Transition::ContinueLater,
            Transition::RetryLater,
            Transition::WaitForBudget,
            Transition::Fail,
            Transition::LeaseExpired,
            Transition::Release,
            Transition::Cancel,
            Transition::Requeue,
        ];
        for from in JobState::ALL.into_iter().filter(|s| s.is_terminal()) {
            for t in all_transitions {
                let r = transition(from, t);
                if from == JobState::Succeeded || t != Transition::Requeue {
                    assert!(r.is_err(), "{from} must not take {t:?}");
                } else {
                    assert_eq!(r, Ok(JobState::Ready));
                }
            }
        }
    }

    #[test]
    fn the_happy_path_and_the_retry_loop() {
        let s = transition(JobState::Scheduled, Transition::Promote).expect("promote");
        let s = transition(s, Transition::Lease).expect("lease");
        assert_eq!(
            transition(s, Transition::RetryLater),
            Ok(JobState::Scheduled)
        );
        assert_eq!(transition(s, Transition::Succeed), Ok(JobState::Succeeded));
        assert!(transition(JobState::Ready, Transition::Succeed).is_err());
    }

    #[test]
    fn states_parse_from_their_names() {
        for s in JobState::ALL {
            assert_eq!(s.as_str().parse::<JobState>(), Ok(s));
        }
        assert!("dead".parse::<JobState>().is_err());
    }
}
