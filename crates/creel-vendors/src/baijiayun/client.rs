//! The Baijiayun client: form-encoded POSTs carrying `partner_id`, `timestamp` and `sign`;
//! answers `{code, data, msg, ts}`; every code classified by [`classify_code`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use creel_core::CallLimiter;
use creel_core::config::{Vendor, VendorAccount};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::endpoints::{ENDPOINTS, VOD_UPLOAD};
use super::sign::sign;
use crate::endpoint::{Endpoint, Paths};
use crate::error::{Classification, VendorError, body_prefix};
use crate::transport::Transport;

/// The class of a Baijiayun answer code (the playback and VOD documents' tables).
#[must_use]
pub fn classify_code(code: i64) -> Classification {
    match code {
        0 => Classification::Success,
        // 1: generic failure, see msg; the vendor uses it for transient server trouble too.
        1 => Classification::Retryable,
        // 404 bad path, 1001 parameter error, 1002 bad sign, 2001 account missing,
        // 2002 no permission, 2003 service stopped, 3001 room missing, 3002 room deleted.
        404 | 1001 | 1002 | 2001..=2003 | 3001 | 3002 => Classification::Permanent,
        // 4001 upload failed: transient on the vendor's side.
        4001 => Classification::Retryable,
        _ => Classification::Permanent,
    }
}

#[derive(Deserialize)]
struct Envelope {
    code: i64,
    #[serde(default)]
    data: Value,
    #[serde(default)]
    msg: Option<String>,
}

/// A client for one Baijiayun account (playback, VOD and dual-teacher openapi share it and its
/// quota).
#[derive(Clone)]
pub struct BaijiayunClient {
    pub(super) transport: Transport,
    partner_id: String,
    partner_key: String,
    paths: Paths,
}

impl std::fmt::Debug for BaijiayunClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BaijiayunClient")
            .field("account", &self.transport.account)
            .field("partner_id", &self.partner_id)
            .finish_non_exhaustive()
    }
}

impl BaijiayunClient {
    /// A client for the account named `name`. Baijiayun has no common base URL (each customer
    /// has `https://<private_domain>.at.baijiayun.com`), so `base_url` is required.
    pub fn new(
        name: &str,
        account: &VendorAccount,
        http: reqwest::Client,
        limiter: Arc<dyn CallLimiter>,
    ) -> Result<Self, VendorError> {
        let config = |reason: String| VendorError::Config {
            vendor: Vendor::Baijiayun,
            reason,
        };
        let base = account.base_url.as_deref().ok_or_else(|| {
            config(format!(
                "accounts.{name}.base_url is required (https://<private_domain>.at.baijiayun.com)"
            ))
        })?;
        let paths = Paths::resolve(&ENDPOINTS, &account.paths)
            .map_err(|e| config(format!("accounts.{name}.{e}")))?;
        Ok(Self {
            transport: Transport::new(name, account, base, http, limiter)?,
            partner_id: account.id.clone(),
            partner_key: account.secret.expose().to_owned(),
            paths,
        })
    }

    /// `params` with `partner_id`, `timestamp` and `sign` added and empty values dropped (never
    /// send an empty parameter: servers and SDKs disagree on whether empties are signed).
    #[must_use]
    pub fn signed_params(
        &self,
        params: BTreeMap<String, String>,
        now_unix: u64,
    ) -> BTreeMap<String, String> {
        let mut p: BTreeMap<String, String> =
            params.into_iter().filter(|(_, v)| !v.is_empty()).collect();
        p.insert("partner_id".into(), self.partner_id.clone());
        p.insert("timestamp".into(), now_unix.to_string());
        let s = sign(&p, &self.partner_key);
        p.insert("sign".into(), s);
        p
    }

    /// One signed call; the answer's `data` on success.
    pub async fn call(
        &self,
        endpoint: &Endpoint,
        params: BTreeMap<String, String>,
    ) -> Result<Value, VendorError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let signed = self.signed_params(params, now);
        let url = self.transport.url(self.paths.get(endpoint));
        let request = self.transport.http().post(url).form(&signed);
        let body = self.transport.send(endpoint.name, request).await?;
        let envelope: Envelope =
            serde_json::from_slice(&body).map_err(|e| VendorError::Undecodable {
                vendor: Vendor::Baijiayun,
                endpoint: endpoint.name,
                reason: e.to_string(),
                body: body_prefix(&body),
            })?;
        let message = envelope.msg.unwrap_or_default();
        if self.transport.is_rate_limit_code(envelope.code) {
            return Err(self
                .transport
                .rate_limited(
                    endpoint.name,
                    None,
                    format!("code {}: {message}", envelope.code),
                )
                .await);
        }
        // The VOD upload endpoint answers code 1 for success.
        let ok = envelope.code == 0 || (endpoint.name == VOD_UPLOAD.name && envelope.code == 1);
        if ok {
            return Ok(envelope.data);
        }
        Err(VendorError::Vendor {
            vendor: Vendor::Baijiayun,
            endpoint: endpoint.name,
            code: envelope.code,
            message,
            class: classify_code(envelope.code),
        })
    }

    /// A signed call whose `data` is decoded as `T`.
    pub(super) async fn call_typed<T: DeserializeOwned>(
        &self,
        endpoint: &Endpoint,
        params: BTreeMap<String, String>,
    ) -> Result<T, VendorError> {
        let data = self.call(endpoint, params).await?;
        let text = data.to_string();
        serde_json::from_value(data).map_err(|e| VendorError::Undecodable {
            vendor: Vendor::Baijiayun,
            endpoint: endpoint.name,
            reason: e.to_string(),
            body: body_prefix(text.as_bytes()),
        })
    }
}
