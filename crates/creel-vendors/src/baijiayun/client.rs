//! The Baijiayun client: form-encoded POSTs carrying `partner_id`, `timestamp` and `sign`;
//! answers `{code, data, msg, ts}`; every code classified by [`classify_code`].

use std::collections::BTreeMap;
use std::sync::Arc;
use tracing::Instrument;

use creel_core::config::VendorAccount;
use creel_core::{CallLimiter, Secret};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::endpoints::{ENDPOINTS, VOD_UPLOAD};
use super::sign::sign;
use crate::endpoint::Endpoint;
use crate::error::{Classification, VendorError};
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
#[derive(Debug, Clone)]
pub struct BaijiayunClient {
    transport: Transport,
    partner_id: String,
    partner_key: Secret,
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
        Ok(Self {
            transport: Transport::new(name, account, None, &ENDPOINTS, http, limiter)?,
            partner_id: account.id.clone(),
            partner_key: account.secret.clone(),
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
        let s = sign(&p, self.partner_key.expose());
        p.insert("sign".into(), s);
        p
    }

    /// One signed call; the answer's `data` on success.
    pub async fn call(
        &self,
        endpoint: &Endpoint,
        params: BTreeMap<String, String>,
    ) -> Result<Value, VendorError> {
        let span = self.transport.span("POST", endpoint);
        self.call_in_span(endpoint, params).instrument(span).await
    }

    /// [`Self::call`]'s work, inside its span.
    async fn call_in_span(
        &self,
        endpoint: &Endpoint,
        params: BTreeMap<String, String>,
    ) -> Result<Value, VendorError> {
        let now = crate::transport::unix_now();
        let signed = self.signed_params(params, now);
        let request = self
            .transport
            .http()
            .post(self.transport.url(endpoint))
            .form(&signed);
        let body = self.transport.send(endpoint.name, request).await?;
        let envelope: Envelope = self.transport.decode(endpoint.name, &body)?;
        // The VOD upload endpoint answers code 1 for success.
        let code = if endpoint.name == VOD_UPLOAD.name && envelope.code == 1 {
            0
        } else {
            envelope.code
        };
        let message = envelope.msg.unwrap_or_default();
        self.transport
            .judge(endpoint.name, code, message, classify_code)
            .await?;
        Ok(envelope.data)
    }

    /// A signed call whose `data` is decoded as `T`.
    pub(super) async fn call_typed<T: DeserializeOwned>(
        &self,
        endpoint: &Endpoint,
        params: BTreeMap<String, String>,
    ) -> Result<T, VendorError> {
        let data = self.call(endpoint, params).await?;
        self.transport.decode_value(endpoint.name, data)
    }
}
