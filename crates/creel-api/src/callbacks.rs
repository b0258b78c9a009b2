//! Vendor callback routes, served beside the API but outside its bearer auth: each vendor's own
//! proof is checked instead.
//! - `POST /callbacks/baijiayun/{account}`: a signed form (playback transcode, pure video,
//!   set-main-version, VOD transcode, dual-teacher auto-match). The sign, timestamp age and
//!   fields are verified; the whole signed content is claimed once in Redis for the whole fleet.
//! - `POST /callbacks/plaso/{token}`: Plaso's unsigned `{taskId, status}`; the URL token
//!   (constant-time compared) picks the account, and the body is only a hint the job confirms
//!   with `getVideoTask`. Deduplicated by (taskId, status).
//!
//! A verified callback becomes a typed *signal* ([`Received`]) on the keys the injected
//! [`CallbackListener`] names: the jobs listening there poll at once, and a job that starts
//! listening later still finds it. The jobs it starts (auto-archive rules) are validated by the
//! same [`RequestValidator`] as the API's requests, then enqueued. Each vendor is answered as
//! its document says (`{"code":0}`, `{"code":0,"message":""}`); a failure to record the
//! callback answers 503 and releases the claim, so the vendor's retry is accepted.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use creel_core::config::Vendor;
use creel_core::{Config, RequestValidator};
use creel_queue::Queue;
use creel_vendors::baijiayun::callback as bjy;
use creel_vendors::plaso::callback as plaso;
use creel_vendors::{CallbackListener, Received, VendorCallback};
use serde_json::json;

/// How long a callback's id is remembered (vendors retry for minutes to hours).
const CLAIM_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// How long a callback's payload waits for a job that has not listened yet.
const SIGNAL_KEEP: Duration = Duration::from_secs(7 * 24 * 3600);

/// What the callback routes need.
#[derive(Clone)]
pub struct CallbackState {
    /// The configuration: accounts (secrets, callback tokens), callback limits, body limit.
    pub config: Arc<Config>,
    /// The queue, for claims, signals and the jobs callbacks start.
    pub queue: Queue,
    /// Names the signal keys and the jobs of a callback.
    pub listener: Arc<dyn CallbackListener>,
    /// Checks the jobs a callback starts, as the API checks requests.
    pub validator: Arc<dyn RequestValidator>,
}

impl std::fmt::Debug for CallbackState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackState").finish_non_exhaustive()
    }
}

#[derive(Clone)]
struct Callbacks {
    state: CallbackState,
    refusals: Arc<RefusalLog>,
}

/// The callback routes. Bodies are bounded by `api.max_body_bytes`, as the API's are.
pub fn callback_routes(state: CallbackState) -> Router {
    let limit = state.config.api.max_body_bytes;
    Router::new()
        .route("/callbacks/baijiayun/{account}", post(baijiayun))
        .route("/callbacks/plaso/{token}", post(plaso_callback))
        .layer(axum::extract::DefaultBodyLimit::max(limit))
        .with_state(Callbacks {
            state,
            refusals: Arc::new(RefusalLog::default()),
        })
}

/// Logs refused callbacks at most once per [`REFUSAL_LOG_EVERY_MS`], with the count of those
/// not logged in between, so a flood of forged callbacks cannot flood the log.
#[derive(Debug, Default)]
struct RefusalLog {
    last_ms: AtomicI64,
    suppressed: AtomicU64,
}

const REFUSAL_LOG_EVERY_MS: i64 = 1_000;

impl RefusalLog {
    fn refused(&self, vendor: &str, account: &str, reason: &str) {
        let now = chrono::Utc::now().timestamp_millis();
        let last = self.last_ms.load(Ordering::Relaxed);
        if now - last >= REFUSAL_LOG_EVERY_MS
            && self
                .last_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let suppressed = self.suppressed.swap(0, Ordering::Relaxed);
            tracing::warn!(
                vendor,
                account,
                reason,
                suppressed,
                "refused a vendor callback"
            );
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn answer(status: StatusCode, body: String) -> Response {
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

async fn baijiayun(
    State(cb): State<Callbacks>,
    Path(account): Path<String>,
    body: Bytes,
) -> Response {
    let Some(acct) = cb
        .state
        .config
        .accounts
        .get(&account)
        .filter(|a| a.vendor == Vendor::Baijiayun)
    else {
        // Answered exactly like a bad sign, so account names cannot be probed.
        cb.refusals
            .refused("baijiayun", "(unknown)", "no such account");
        return bad_sign();
    };
    let fields: BTreeMap<String, String> = url::form_urlencoded::parse(&body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let now = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0);
    let max_age = Duration::from_secs(cb.state.config.classroom.callback_max_age_secs);
    let verified = match bjy::verify(&fields, acct.secret.expose(), now, max_age) {
        Ok(v) => v,
        Err(e) => {
            cb.refusals.refused("baijiayun", &account, &e.to_string());
            return match e {
                bjy::CallbackError::BadSign => bad_sign(),
                e => answer(
                    StatusCode::BAD_REQUEST,
                    json!({"code": 1, "msg": e.to_string()}).to_string(),
                ),
            };
        }
    };
    // The replay key is the whole signed content, not the qid alone.
    let claim = format!("bjy:{account}:cb:{}", verified.digest);
    let qid = verified.qid;
    let callback = VendorCallback::Baijiayun(verified.callback);
    if let Err(answer) = record(&cb, &claim, &account, callback).await {
        return answer;
    }
    tracing::info!(%account, %qid, "Baijiayun callback");
    answer(StatusCode::OK, bjy::ACK.to_owned())
}

/// Records a verified callback once: claims `claim` for the fleet (a second arrival is
/// answered as done), signals the listener's keys, and enqueues the jobs it starts. On a Redis
/// failure the claim is released and the answer is 503, so the vendor's retry is accepted.
async fn record(
    cb: &Callbacks,
    claim: &str,
    account: &str,
    callback: VendorCallback,
) -> Result<(), Response> {
    let queue = &cb.state.queue;
    let keys = cb.state.listener.keys(account, &callback);
    let follow_ups = cb.state.listener.follow_ups(account, &callback);
    let ack = match &callback {
        VendorCallback::Baijiayun(_) => bjy::ACK,
        VendorCallback::Plaso(_) => plaso::ACK,
    };
    let received = Received {
        callback,
        received_at_ms: chrono::Utc::now().timestamp_millis(),
        traceparent: callback_trace(),
    };
    let signal = match serde_json::to_value(&received) {
        Ok(v) => v,
        Err(e) => {
            tracing::error!(error = %e, "a verified callback does not serialize");
            return Err(answer(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"code": 1, "msg": "internal error"}).to_string(),
            ));
        }
    };
    match queue.claim_once(claim, CLAIM_TTL).await {
        Ok(true) => {}
        // Recorded before (a vendor's retry): answered as a success.
        Ok(false) => return Err(answer(StatusCode::OK, ack.to_owned())),
        Err(e) => return Err(unavailable(&e)),
    }
    let outcome = async {
        for key in &keys {
            queue.signal(key, &signal, SIGNAL_KEEP).await?;
        }
        for request in follow_ups {
            if let Err(e) = cb.state.validator.validate(&request) {
                // A rule the configuration should not have allowed: the vendor's retry would
                // not fix it, so the callback is still acknowledged.
                tracing::error!(%account, kind = %request.kind, error = %e, "an auto-archive rule made a job that does not validate; none was enqueued");
                continue;
            }
            let kind = request.kind.clone();
            let enqueued = queue.enqueue(request).await?;
            if enqueued.created {
                tracing::info!(%account, job = %enqueued.id, %kind, "auto-archive rule enqueued a job");
            }
        }
        Ok::<(), creel_queue::QueueError>(())
    }
    .await;
    if let Err(e) = outcome {
        let _ = queue.release_claim(claim).await;
        return Err(unavailable(&e));
    }
    Ok(())
}

async fn plaso_callback(
    State(cb): State<Callbacks>,
    Path(token): Path<String>,
    body: Bytes,
) -> Response {
    let account = cb.state.config.accounts.iter().find(|(_, a)| {
        a.vendor == Vendor::Plaso
            && a.plaso
                .callback_token
                .as_ref()
                .is_some_and(|t| plaso::token_matches(t.expose(), &token))
    });
    let Some((account, _)) = account else {
        cb.refusals
            .refused("plaso", "(unknown)", "unknown callback token");
        return answer(
            StatusCode::NOT_FOUND,
            json!({"code": 404, "message": "unknown callback token"}).to_string(),
        );
    };
    let hint = match plaso::parse(&body) {
        Ok(h) => h,
        Err(e) => {
            cb.refusals.refused("plaso", account, &e.to_string());
            return answer(
                StatusCode::BAD_REQUEST,
                json!({"code": 1, "message": e.to_string()}).to_string(),
            );
        }
    };
    let claim = format!("plaso:{account}:cb:{}:{}", hint.task_id, hint.status.code());
    let (task_id, status) = (hint.task_id.clone(), hint.status.code());
    if let Err(answer) = record(&cb, &claim, account, VendorCallback::Plaso(hint)).await {
        return answer;
    }
    tracing::info!(%account, %task_id, status, "Plaso callback");
    answer(StatusCode::OK, plaso::ACK.to_owned())
}

/// The answer to a callback whose sign does not verify, or whose account does not exist.
fn bad_sign() -> Response {
    answer(
        StatusCode::BAD_REQUEST,
        json!({"code": 1, "msg": bjy::CallbackError::BadSign.to_string()}).to_string(),
    )
}

fn unavailable(e: &creel_queue::QueueError) -> Response {
    tracing::error!(error = %e, "could not record a vendor callback; the vendor will retry");
    answer(
        StatusCode::SERVICE_UNAVAILABLE,
        json!({"code": 1, "msg": "try again"}).to_string(),
    )
}

/// The context of the request span a callback arrived in (the step it wakes links to it), when
/// spans are traced.
fn callback_trace() -> Option<String> {
    creel_queue::trace::StoredContext::of_span(&tracing::Span::current())
        .and_then(|c| c.traceparent)
}
