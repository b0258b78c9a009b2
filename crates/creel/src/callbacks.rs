//! Vendor callback routes, served beside the API but outside its bearer auth: each vendor's own
//! proof is checked instead.
//! - `POST /callbacks/baijiayun/{account}`: a signed form (playback transcode, pure video,
//!   set-main-version, VOD transcode, dual-teacher auto-match). The sign, timestamp age and
//!   fields are verified; the whole signed content is claimed once in Redis for the whole fleet.
//! - `POST /callbacks/plaso/{token}`: Plaso's unsigned `{taskId, status}`; the URL token
//!   (constant-time compared) picks the account, and the body is only a hint the job confirms
//!   with `getVideoTask`. Deduplicated by (taskId, status).
//!
//! A verified callback becomes a *signal* on the keys of [`creel_jobs::classroom::keys`]: the
//! jobs listening there poll at once, and a job that starts listening later still finds it.
//! Each vendor is answered as its document says (`{"code":0}`, `{"code":0,"message":""}`);
//! a failure to record the callback answers 503 and releases the claim, so the vendor's retry
//! is accepted.

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
use creel_core::Config;
use creel_core::config::Vendor;
use creel_jobs::classroom::keys;
use creel_queue::Queue;
use creel_vendors::ReplayGuard;
use creel_vendors::baijiayun::callback::{self as bjy, Callback};
use creel_vendors::plaso::callback as plaso;
use serde_json::json;

/// How long a callback's id is remembered (vendors retry for minutes to hours).
const CLAIM_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// How long a callback's payload waits for a job that has not listened yet.
const SIGNAL_KEEP: Duration = Duration::from_secs(7 * 24 * 3600);

#[derive(Clone)]
struct Callbacks {
    config: Arc<Config>,
    queue: Queue,
    refusals: Arc<RefusalLog>,
}

/// The callback routes. Bodies are bounded by `api.max_body_bytes`, as the API's are.
pub fn routes(config: Arc<Config>, queue: Queue) -> Router {
    let limit = config.api.max_body_bytes;
    Router::new()
        .route("/callbacks/baijiayun/{account}", post(baijiayun))
        .route("/callbacks/plaso/{token}", post(plaso_callback))
        .layer(axum::extract::DefaultBodyLimit::max(limit))
        .with_state(Callbacks {
            config,
            queue,
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

/// The replay check is done after verification, in Redis (shared by every API process), so
/// `verify` is given a guard that lets every qid through.
struct CheckedAfterwards;

impl ReplayGuard for CheckedAfterwards {
    fn claim(&self, _: &str) -> bool {
        true
    }
    fn release(&self, _: &str) {}
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
    let max_age = Duration::from_secs(cb.config.classroom.callback_max_age_secs);
    let verified = match bjy::verify(
        &fields,
        acct.secret.expose(),
        now,
        max_age,
        &CheckedAfterwards,
    ) {
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
    match cb.queue.claim_once(&claim, CLAIM_TTL).await {
        Ok(true) => {}
        Ok(false) => return answer(StatusCode::OK, bjy::ACK.to_owned()),
        Err(e) => return unavailable(&e),
    }
    let kind = serde_json::to_value(&verified.callback)
        .ok()
        .and_then(|v| v["kind"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let payload = json!({"vendor": "baijiayun", "kind": kind, "qid": verified.qid, "fields": fields,
        "received_at_ms": chrono::Utc::now().timestamp_millis(), "traceparent": callback_trace()});
    let mut signal_keys = Vec::new();
    match &verified.callback {
        Callback::PureVideo {
            room_id,
            session_id,
            video_id,
            ..
        } => {
            if let Some(room_id) = room_id {
                signal_keys.push(keys::baijiayun_pure_video(&account, *room_id, *session_id));
            }
            signal_keys.push(keys::baijiayun_video(&account, *video_id));
        }
        Callback::PlaybackTranscode { video_id, .. }
        | Callback::SetMainVersion { video_id, .. }
        | Callback::VodTranscode { video_id, .. }
        | Callback::AutoMatch { video_id, .. } => {
            signal_keys.push(keys::baijiayun_video(&account, *video_id));
        }
    }
    for key in &signal_keys {
        if let Err(e) = cb.queue.signal(key, &payload, SIGNAL_KEEP).await {
            let _ = cb.queue.release_claim(&claim).await;
            return unavailable(&e);
        }
    }
    if let Err(e) = auto_archive(&cb, &account, &verified.callback).await {
        let _ = cb.queue.release_claim(&claim).await;
        return unavailable(&e);
    }
    tracing::info!(%account, %kind, qid = %verified.qid, "Baijiayun callback");
    answer(StatusCode::OK, bjy::ACK.to_owned())
}

async fn plaso_callback(
    State(cb): State<Callbacks>,
    Path(token): Path<String>,
    body: Bytes,
) -> Response {
    let account = cb.config.accounts.iter().find(|(_, a)| {
        a.vendor == Vendor::Plaso
            && a.callback_token
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
    match cb.queue.claim_once(&claim, CLAIM_TTL).await {
        Ok(true) => {}
        Ok(false) => return answer(StatusCode::OK, plaso::ACK.to_owned()),
        Err(e) => return unavailable(&e),
    }
    let payload = json!({"vendor": "plaso", "task_id": hint.task_id, "status": hint.status.code(),
        "received_at_ms": chrono::Utc::now().timestamp_millis(), "traceparent": callback_trace()});
    if let Err(e) = cb
        .queue
        .signal(
            &keys::plaso_task(account, &hint.task_id),
            &payload,
            SIGNAL_KEEP,
        )
        .await
    {
        let _ = cb.queue.release_claim(&claim).await;
        return unavailable(&e);
    }
    tracing::info!(%account, task_id = %hint.task_id, status = hint.status.code(), "Plaso callback");
    answer(StatusCode::OK, plaso::ACK.to_owned())
}

/// Enqueues the archive job of every auto-archive rule the callback matches. The idempotency
/// key is (account, room, session, version, product), so a second callback about the same
/// lesson (a vendor retry with a new qid, a dual-teacher match after the transcode) adds
/// nothing.
async fn auto_archive(
    cb: &Callbacks,
    account: &str,
    callback: &Callback,
) -> Result<(), creel_queue::QueueError> {
    use creel_core::classroom::{ArchiveProduct, ArchiveTrigger};
    use creel_vendors::baijiayun::model::PlaybackStatus;
    let (trigger, room_id, session_id, version, video_id) = match callback {
        Callback::PlaybackTranscode {
            room_id,
            session_id,
            version,
            video_id,
            status: PlaybackStatus::Ready,
            ..
        } => (
            ArchiveTrigger::Transcode,
            *room_id,
            *session_id,
            *version,
            *video_id,
        ),
        Callback::AutoMatch {
            room_id,
            session_id,
            video_id,
            status: PlaybackStatus::Ready,
            ..
        } => (
            ArchiveTrigger::AutoMatch,
            *room_id,
            *session_id,
            None,
            *video_id,
        ),
        _ => return Ok(()),
    };
    for rule in &cb.config.classroom.auto_archive {
        if rule.account != account
            || rule.on != trigger
            || !(rule.room_ids.is_empty() || rule.room_ids.contains(&room_id))
        {
            continue;
        }
        let deliver = json!({"profile": rule.profile, "key": rule.key});
        let (kind, payload, product) = match rule.produce {
            ArchiveProduct::Vod => (
                "baijiayun.vod",
                json!({"video_id": video_id, "deliver": deliver}),
                "vod",
            ),
            ArchiveProduct::PureVideo => (
                "baijiayun.pure_video",
                json!({"room_id": room_id, "session_id": session_id, "deliver": deliver}),
                "pure_video",
            ),
        };
        let request = creel_core::JobRequest {
            account: Some(account.to_owned()),
            idempotency_key: Some(format!(
                "auto-archive:{account}:{room_id}:{}:{}:{product}",
                session_id.unwrap_or(0),
                version.unwrap_or(0)
            )),
            created_by: Some(rule.owner.clone()),
            idempotency_scope: creel_core::IdempotencyScope::Internal,
            ..creel_core::JobRequest::new(kind, payload)
        };
        let enqueued = cb.queue.enqueue(request).await?;
        if enqueued.created {
            tracing::info!(%account, room_id, job = %enqueued.id, kind, "auto-archive rule enqueued a job");
        }
    }
    Ok(())
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
