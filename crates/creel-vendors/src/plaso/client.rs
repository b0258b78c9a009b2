//! The Plaso client: signs each request (`appId`, `validBegin`, `validTime`, `signature`),
//! sends it as the account's encoding says (JSON body by default), and classifies the answer.

use std::collections::BTreeMap;
use std::sync::Arc;
use tracing::Instrument;

use creel_core::config::{RequestEncoding, Vendor, VendorAccount};
use creel_core::{CallLimiter, Secret};
use serde::Deserialize;
use serde_json::{Value, json};

use super::model::{TransferVideo, TransferVideoAnswer, VideoTask};
use super::sign::sign;
use crate::endpoint::Endpoint;
use crate::error::{Classification, VendorError};
use crate::transport::Transport;

/// Plaso's production base URL.
pub const DEFAULT_BASE_URL: &str = "https://www.plaso.cn";

/// `transferVideo`: export a recorded classroom to video.
pub const TRANSFER_VIDEO: Endpoint = Endpoint {
    name: "transfer_video",
    path: "/dataentry/liveclass/transferVideo",
    documented: true,
    summary: "export a recorded classroom to a video in the customer's OSS (billed)",
};

/// `getVideoTask`: an export task's status.
pub const GET_VIDEO_TASK: Endpoint = Endpoint {
    name: "get_video_task",
    path: "/dataentry/liveclass/getVideoTask",
    documented: true,
    summary: "an export task's status and, when done, its videoUrl",
};

/// Every Plaso endpoint creel calls.
pub const ENDPOINTS: [Endpoint; 2] = [TRANSFER_VIDEO, GET_VIDEO_TASK];

/// A task for this record is already running: never resubmit (it bills again); look up the
/// task creel already has.
pub const CODE_TASK_RUNNING: i64 = 22001;
/// The classroom does not exist.
pub const CODE_NO_CLASSROOM: i64 = 22003;

/// The class of a Plaso answer code. Undocumented codes are permanent: a blind retry of
/// `transferVideo` could bill twice.
#[must_use]
pub fn classify_code(code: i64) -> Classification {
    match code {
        0 => Classification::Success,
        _ => Classification::Permanent,
    }
}

#[derive(Deserialize)]
struct Envelope {
    code: i64,
    #[serde(default)]
    obj: Value,
    #[serde(default, alias = "message")]
    msg: Option<String>,
}

/// A client for one Plaso account.
#[derive(Debug, Clone)]
pub struct PlasoClient {
    transport: Transport,
    app_id: String,
    secret: Secret,
    encoding: RequestEncoding,
    valid_time_secs: u64,
    clock_skew_secs: u64,
}

impl PlasoClient {
    /// A client for the account named `name`.
    pub fn new(
        name: &str,
        account: &VendorAccount,
        http: reqwest::Client,
        limiter: Arc<dyn CallLimiter>,
    ) -> Result<Self, VendorError> {
        Ok(Self {
            transport: Transport::new(
                name,
                account,
                Some(DEFAULT_BASE_URL),
                &ENDPOINTS,
                http,
                limiter,
            )?,
            app_id: account.id.clone(),
            secret: account.secret.clone(),
            encoding: account.plaso.encoding.unwrap_or(RequestEncoding::Json),
            valid_time_secs: account.plaso.valid_time_secs,
            clock_skew_secs: account.plaso.clock_skew_secs,
        })
    }

    /// `params` with `appId`, `validBegin` (now − clock skew), `validTime` and `signature`
    /// added, as sent.
    #[must_use]
    pub fn signed_params(
        &self,
        mut params: BTreeMap<String, Value>,
        now_unix: u64,
    ) -> BTreeMap<String, Value> {
        params.insert("appId".into(), json!(self.app_id));
        params.insert(
            "validBegin".into(),
            json!(now_unix.saturating_sub(self.clock_skew_secs)),
        );
        params.insert("validTime".into(), json!(self.valid_time_secs));
        let signature = sign(&params, self.secret.expose());
        params.insert("signature".into(), json!(signature));
        params
    }

    /// Exports a recorded classroom. Validates every option first; `22001` (a task for this
    /// record is already running) comes back as a permanent [`VendorError::Vendor`] with that
    /// code: look the task up, never resubmit.
    pub async fn transfer_video(
        &self,
        request: &TransferVideo,
    ) -> Result<TransferVideoAnswer, VendorError> {
        request
            .validate()
            .map_err(|e| VendorError::InvalidRequest {
                vendor: Vendor::Plaso,
                endpoint: TRANSFER_VIDEO.name,
                field: e.field.to_owned(),
                reason: e.reason,
            })?;
        let obj = self.call(&TRANSFER_VIDEO, request.params()).await?;
        self.transport.decode_value(TRANSFER_VIDEO.name, obj)
    }

    /// An export task's status.
    pub async fn get_video_task(&self, task_id: &str) -> Result<VideoTask, VendorError> {
        let params = BTreeMap::from([("taskId".to_owned(), json!(task_id))]);
        let obj = self.call(&GET_VIDEO_TASK, params).await?;
        self.transport.decode_value(GET_VIDEO_TASK.name, obj)
    }

    /// One signed call; the answer's `obj` on code 0.
    pub async fn call(
        &self,
        endpoint: &Endpoint,
        params: BTreeMap<String, Value>,
    ) -> Result<Value, VendorError> {
        let method = match self.encoding {
            RequestEncoding::Json | RequestEncoding::Form => "POST",
            RequestEncoding::Query => "GET",
        };
        let span = self.transport.span(method, endpoint);
        self.call_in_span(endpoint, params).instrument(span).await
    }

    /// [`Self::call`]'s work, inside its span.
    async fn call_in_span(
        &self,
        endpoint: &Endpoint,
        params: BTreeMap<String, Value>,
    ) -> Result<Value, VendorError> {
        let now = crate::transport::unix_now();
        let signed = self.signed_params(params, now);
        let url = self.transport.url(endpoint);
        let http = self.transport.http();
        let request = match self.encoding {
            RequestEncoding::Json => http.post(url).json(&signed),
            RequestEncoding::Form => http.post(url).form(&as_strings(&signed)),
            RequestEncoding::Query => http.get(url).query(&as_strings(&signed)),
        };
        let body = self.transport.send(endpoint.name, request).await?;
        let envelope: Envelope = self.transport.decode(endpoint.name, &body)?;
        let message = envelope.msg.unwrap_or_default();
        self.transport
            .judge(endpoint.name, envelope.code, message, classify_code)
            .await?;
        Ok(envelope.obj)
    }
}

fn as_strings(params: &BTreeMap<String, Value>) -> Vec<(String, String)> {
    params
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| {
            let v = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), v)
        })
        .collect()
}
