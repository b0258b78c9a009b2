//! The job-kind registry: the [`Kind`] trait every job kind implements, and the [`kinds!`]
//! macro that turns one list of kinds into the `KINDS` table, the request validation and the
//! step dispatch. A kind is added by implementing [`Kind`] (or, for a classroom kind,
//! [`crate::classroom::VendorTask`]) and naming it in that list: nothing else dispatches on
//! kind names, so a kind cannot be routed without being validated.

use std::future::Future;

use creel_core::{Config, JobError, JobRequest, JobRequestError};
use creel_queue::{JobContext, StepOutcome};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::JobDeps;

/// One job kind: its name, its payload type (the implementing type), how a request for it is
/// checked, how one step of it runs, and how a cancelled job of it is tidied.
pub trait Kind: Sized + Send + Sync + 'static {
    /// The name requests give in `kind`, e.g. `download`.
    const NAME: &'static str;

    /// Who may enqueue jobs of this kind through the validator (the API, the stream intake,
    /// `creel enqueue`).
    const ENQUEUED_BY: EnqueuedBy = EnqueuedBy::Callers;

    /// Decodes a payload, naming the field at fault as `payload.<path>`.
    fn decode(payload: &Value) -> Result<Self, JobRequestError>;

    /// Checks a decoded payload against the request (its account) and the configuration
    /// (profiles, accounts, limits). The first bad field is named.
    fn validate(&self, request: &JobRequest, config: &Config) -> Result<(), JobRequestError>;

    /// Runs the job's current step.
    fn run(
        &self,
        ctx: &JobContext,
        deps: &JobDeps,
    ) -> impl Future<Output = Result<StepOutcome, JobError>> + Send;

    /// Tidies after the cancelled `job` of this kind whose last checkpoint was `checkpoint`;
    /// returns what was done (for the job's record), or `None` when nothing was left behind.
    fn after_cancel(
        job: &creel_queue::JobRecord,
        checkpoint: &Value,
        deps: &JobDeps,
    ) -> impl Future<Output = Option<Value>> + Send;
}

/// Who may enqueue jobs of a kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnqueuedBy {
    /// Callers, through the validator.
    Callers,
    /// creel alone (e.g. `webhook` deliveries, made from completion events): the validator
    /// refuses the kind whatever its payload.
    Creel,
}

/// The error for a request of a kind only creel enqueues.
pub(crate) fn internal_kind(kind: &str) -> JobRequestError {
    JobRequestError::new(
        "kind",
        format!("{kind} jobs are creel's own; they cannot be enqueued"),
    )
}

/// Decodes a payload into `T`, naming the offending field as `payload.<name>` where serde
/// says which.
pub(crate) fn decode_payload<T: DeserializeOwned>(payload: &Value) -> Result<T, JobRequestError> {
    serde_path_to_error::deserialize(payload)
        .map_err(|e| JobRequestError::from_json(&e, Some("payload"), "payload"))
}

/// The error for a kind no entry of the registry has.
pub(crate) fn unknown_kind(kind: &str, known: &[&str]) -> JobRequestError {
    JobRequestError::new(
        "kind",
        format!(
            "unknown job kind {kind:?}; known kinds: {}",
            known.join(", ")
        ),
    )
}

/// Generates, from one list of [`Kind`] types, the registry's functions:
/// `KINDS` (the names), `validate_payload`, `run` and `after_cancel`, each dispatching on the
/// request's kind name.
macro_rules! kinds {
    ($($kind:ty),+ $(,)?) => {
        /// The job kinds this build knows, as requests name them.
        pub const KINDS: &[&str] = &[$(<$kind as $crate::kind::Kind>::NAME),+];

        /// Decodes and checks the payload of `request` by its kind.
        pub(crate) fn validate_payload(
            request: &creel_core::JobRequest,
            config: &creel_core::Config,
        ) -> Result<(), creel_core::JobRequestError> {
            $(
                if request.kind == <$kind as $crate::kind::Kind>::NAME {
                    if <$kind as $crate::kind::Kind>::ENQUEUED_BY == $crate::kind::EnqueuedBy::Creel {
                        return Err($crate::kind::internal_kind(&request.kind));
                    }
                    let spec = <$kind as $crate::kind::Kind>::decode(&request.payload)?;
                    return $crate::kind::Kind::validate(&spec, request, config);
                }
            )+
            Err($crate::kind::unknown_kind(&request.kind, KINDS))
        }

        /// Runs one step of `job`. A payload that no longer decodes (it was validated when
        /// enqueued, so the kind changed under it) fails the job for good.
        pub async fn run(
            job: Job,
            ctx: &creel_queue::JobContext,
            deps: &JobDeps,
        ) -> Result<creel_queue::StepOutcome, creel_core::JobError> {
            $(
                if job.kind == <$kind as $crate::kind::Kind>::NAME {
                    let spec = <$kind as $crate::kind::Kind>::decode(&job.payload)
                        .map_err(|e| creel_core::JobError::permanent(e.to_string()))?;
                    return $crate::kind::Kind::run(&spec, ctx, deps).await;
                }
            )+
            Err(creel_core::JobError::permanent(
                $crate::kind::unknown_kind(&job.kind, KINDS).to_string(),
            ))
        }

        /// Tidies after the cancelled job `rec` (its kind's [`Kind::after_cancel`]); `None`
        /// when it left nothing behind.
        pub async fn after_cancel(
            rec: &creel_queue::JobRecord,
            deps: &JobDeps,
        ) -> Option<serde_json::Value> {
            let checkpoint = rec.checkpoint.as_ref()?;
            $(
                if rec.kind == <$kind as $crate::kind::Kind>::NAME {
                    return <$kind as $crate::kind::Kind>::after_cancel(
                        rec,
                        checkpoint,
                        deps,
                    )
                    .await;
                }
            )+
            None
        }
    };
}

pub(crate) use kinds;

#[cfg(test)]
mod tests {
    use creel_core::{Config, JobRequest};
    use serde_json::json;

    #[test]
    fn every_registered_kind_checks_its_payload() {
        let config = Config::default();
        for kind in crate::KINDS {
            let request = JobRequest::new(*kind, json!({}));
            let err = crate::validate_payload(&request, &config).expect_err(kind);
            let internal = err.reason.contains("creel's own");
            assert!(
                err.field.starts_with("payload") || err.field == "account" || internal,
                "{kind}: {err}"
            );
        }
    }

    #[test]
    fn kind_names_are_unique_and_unknown_ones_are_named() {
        let mut names = crate::KINDS.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), crate::KINDS.len());
        let request = JobRequest::new("no.such", json!({}));
        let err = crate::validate_payload(&request, &Config::default()).expect_err("unknown");
        assert_eq!(err.field, "kind");
        assert!(err.reason.contains("download"), "{err}");
    }
}
