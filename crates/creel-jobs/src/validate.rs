//! The request validator: the kind exists, its payload decodes and is valid, and the account,
//! storage profile and webhook it names are configured. Each error names the field.

use std::sync::Arc;

use creel_core::{Config, JobRequest, JobRequestError, RequestValidator};

use creel_core::config::Vendor;

use crate::KINDS;
use crate::classroom::Deliver;
use crate::key_template::{self, Placeholder};

/// Validates requests against the kinds of this build and a configuration.
#[derive(Debug, Clone)]
pub struct Validator {
    config: Arc<Config>,
}

impl Validator {
    /// A validator for `config`.
    #[must_use]
    pub fn new(config: Arc<Config>) -> Self {
        Self { config }
    }
}

impl RequestValidator for Validator {
    fn validate(&self, r: &JobRequest) -> Result<(), JobRequestError> {
        r.validate()?;
        if !KINDS.contains(&r.kind.as_str()) {
            return Err(crate::kind::unknown_kind(&r.kind, KINDS));
        }
        if !self.config.worker.queues.contains_key(&r.queue) {
            return Err(JobRequestError::new(
                "queue",
                format!(
                    "no queue named {:?} is declared in worker.queues (declared: {})",
                    r.queue,
                    self.config
                        .worker
                        .queues
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        if let Some(at) = r.run_at {
            let ahead = self.config.limits.max_schedule_ahead_secs;
            let latest = chrono::Utc::now()
                + chrono::Duration::seconds(i64::try_from(ahead).unwrap_or(i64::MAX / 1000));
            if at > latest {
                return Err(JobRequestError::new(
                    "run_at",
                    format!("must be at most {ahead} s ahead (limits.max_schedule_ahead_secs)"),
                ));
            }
        }
        if let Some(account) = &r.account
            && !self.config.accounts.contains_key(account)
        {
            return Err(JobRequestError::new(
                "account",
                format!("no vendor account named {account:?} is configured"),
            ));
        }
        if let Some(hook) = &r.webhook {
            let http = url::Url::parse(hook).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
            if !http || !self.config.events.webhook.allows(hook) {
                return Err(JobRequestError::new(
                    "webhook",
                    "must be an http(s) URL under one of the URLs in events.webhook.allow (same scheme, host and port; a path below)",
                ));
            }
        }
        crate::validate_payload(r, &self.config)
    }
}

/// A classroom kind needs an account of its vendor.
pub(crate) fn vendor_account(
    config: &Config,
    r: &JobRequest,
    vendor: Vendor,
) -> Result<(), JobRequestError> {
    let Some(name) = r.account.as_deref() else {
        return Err(JobRequestError::new(
            "account",
            format!("a {} job needs the {vendor} account to act for", r.kind),
        ));
    };
    match config.accounts.get(name) {
        Some(a) if a.vendor == vendor => Ok(()),
        Some(a) => Err(JobRequestError::new(
            "account",
            format!(
                "account {name:?} is a {} account; {} needs a {vendor} one",
                a.vendor, r.kind
            ),
        )),
        None => Err(JobRequestError::new(
            "account",
            format!("no vendor account named {name:?} is configured"),
        )),
    }
}

/// A delivery names a configured profile and a key template that makes valid keys.
pub(crate) fn deliver(
    config: &Config,
    d: Option<&Deliver>,
    r: &JobRequest,
) -> Result<(), JobRequestError> {
    let Some(d) = d else { return Ok(()) };
    if !config.storage.contains_key(&d.profile) {
        return Err(JobRequestError::new(
            "payload.deliver.profile",
            format!("no storage profile named {:?} is configured", d.profile),
        ));
    }
    if let Some(key) = &d.key {
        // Rendered as the deliveries will be: this job's kind and account, and the widest
        // output index a job can have.
        let sample = key_template::expand(
            key,
            &[
                Placeholder::Parent("01M80ZC26FKKSMB7FKWBE0W9J7"),
                Placeholder::Index(config.limits.crop_max_segments.max(1)),
                Placeholder::Kind(&r.kind),
                Placeholder::Date("2026-01-01"),
                Placeholder::Account(r.account.as_deref()),
            ],
        );
        creel_storage::ObjectKey::parse(&sample)
            .map_err(|e| JobRequestError::new("payload.deliver.key", e.to_string()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use creel_core::config::StorageProfile;
    use serde_json::json;

    fn validator() -> Validator {
        let mut cfg = Config::default();
        cfg.storage.insert(
            "local".into(),
            StorageProfile::Dir {
                path: "/tmp/creel".into(),
            },
        );
        cfg.events
            .webhook
            .allow
            .push("https://hooks.example.com/".into());
        Validator::new(Arc::new(cfg))
    }

    fn field_of(
        kind: &str,
        payload: serde_json::Value,
        edit: impl FnOnce(&mut JobRequest),
    ) -> String {
        let mut r = JobRequest::new(kind, payload);
        edit(&mut r);
        validator().validate(&r).expect_err("invalid").field
    }

    #[test]
    fn type_errors_name_the_field_by_its_path() {
        let mut cfg = Config::default();
        let mut bjy = creel_core::config::VendorAccount::new(
            Vendor::Baijiayun,
            "1",
            creel_core::Secret::new("k"),
        );
        bjy.base_url = Some("https://x.at.baijiayun.com".into());
        cfg.accounts.insert("bjy".into(), bjy);
        cfg.accounts.insert(
            "plaso".into(),
            creel_core::config::VendorAccount::new(
                Vendor::Plaso,
                "1",
                creel_core::Secret::new("k"),
            ),
        );
        let v = Validator::new(Arc::new(cfg));
        let field = |kind: &str, account: &str, payload: serde_json::Value| {
            let mut r = JobRequest::new(kind, payload);
            r.account = Some(account.into());
            v.validate(&r).expect_err("invalid").field
        };
        assert_eq!(
            field(
                "plaso.export",
                "plaso",
                json!({"record_id": "r", "resolution": "4K"})
            ),
            "payload.resolution"
        );
        assert_eq!(
            field("baijiayun.vod", "bjy", json!({"video_id": "abc"})),
            "payload.video_id"
        );
        assert_eq!(
            field(
                "baijiayun.crop",
                "bjy",
                json!({"room_id": 1, "segments": [{"start_time": 0, "end_time": "x", "name": "a"}]})
            ),
            "payload.segments[0].end_time"
        );
        assert_eq!(field("baijiayun.vod", "bjy", json!({})), "payload.video_id");
        assert_eq!(
            JobRequest::from_json(br#"{"kind": "download", "run_at": 5}"#)
                .expect_err("a number is not a time")
                .field,
            "run_at"
        );
        assert_eq!(
            JobRequest::from_json(b"[]")
                .expect_err("not an object")
                .field,
            "body"
        );
    }

    #[test]
    fn a_key_is_checked_as_the_run_will_render_it() {
        // 17 copies of a 64-byte account name make a 1088-byte key: refused at intake, not at
        // run time (the check used to render the placeholder "account").
        let mut cfg = Config::default();
        cfg.storage.insert(
            "local".into(),
            StorageProfile::Dir {
                path: "/tmp/creel".into(),
            },
        );
        let name = "a".repeat(64);
        let mut bjy = creel_core::config::VendorAccount::new(
            Vendor::Baijiayun,
            "1",
            creel_core::Secret::new("k"),
        );
        bjy.base_url = Some("https://x.at.baijiayun.com".into());
        cfg.accounts.insert(name.clone(), bjy);
        let v = Validator::new(Arc::new(cfg));
        let template = "{account}".repeat(17);
        let mut r = JobRequest::new(
            "baijiayun.vod",
            json!({"video_id": 1, "deliver": {"profile": "local", "key": template}}),
        );
        r.account = Some(name.clone());
        assert_eq!(
            v.validate(&r).expect_err("too long").field,
            "payload.deliver.key"
        );
        let mut r = JobRequest::new(
            "download",
            json!({"source": {"type": "baijiayun_vod", "video_id": 1}, "profile": "local", "key": template}),
        );
        r.account = Some(name);
        assert_eq!(v.validate(&r).expect_err("too long").field, "payload.key");
    }

    #[test]
    fn a_good_download_passes() {
        let mut r = JobRequest::new(
            "download",
            json!({"url": "https://cdn.example.com/a.mp4", "profile": "local"}),
        );
        r.webhook = Some("https://hooks.example.com/creel".into());
        validator().validate(&r).expect("valid");
    }

    #[test]
    fn each_bad_input_names_its_field() {
        let ok = json!({"url": "https://x.example/a.mp4", "profile": "local"});
        assert_eq!(field_of("teleport", ok.clone(), |_| {}), "kind");
        assert_eq!(
            field_of("download", ok.clone(), |r| r.account =
                Some("nobody".into())),
            "account"
        );
        assert_eq!(
            field_of("download", ok.clone(), |r| r.webhook =
                Some("https://evil.example/".into())),
            "webhook"
        );
        assert_eq!(
            field_of("download", json!({"profile": "local"}), |_| {}),
            "payload.url"
        );
        assert_eq!(
            field_of(
                "download",
                json!({"url": "https://x/a", "profile": "s3"}),
                |_| {}
            ),
            "payload.profile"
        );
        assert_eq!(
            field_of(
                "download",
                json!({"url": "ftp://x/a", "profile": "local"}),
                |_| {}
            ),
            "payload.url"
        );
        assert_eq!(
            field_of(
                "download",
                json!({"url": "https://u:p@x/a", "profile": "local"}),
                |_| {}
            ),
            "payload.url"
        );
        assert_eq!(
            field_of(
                "download",
                json!({"url": "https://x/a", "profile": "local", "bogus": 1}),
                |_| {}
            ),
            "payload.bogus"
        );
        assert_eq!(
            field_of(
                "download",
                json!({"url": "https://x/a", "profile": "local", "expected_md5": "xyz"}),
                |_| {}
            ),
            "payload.expected_md5"
        );
        assert_eq!(
            field_of(
                "download",
                json!({"url": "https://x/a", "profile": "local", "key": "../etc"}),
                |_| {}
            ),
            "payload.key"
        );
    }
}
