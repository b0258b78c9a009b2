//! A local HTTP server of generated sample lessons (known bytes, known MD5, streamed in chunks
//! at a chosen pace; also without a length, or a byte at a time) and a webhook receiver that
//! checks creel's signatures. `creel demo` runs on it, and so do the end-to-end tests.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use md5::{Digest, Md5};
use tokio_util::sync::CancellationToken;

/// Bytes per chunk the server sends.
const CHUNK: usize = 256 << 10;

/// How slowly `/drip/<name>` sends: one byte per this.
pub const DRIP_EVERY: Duration = Duration::from_millis(200);

/// One webhook request the receiver got.
#[derive(Debug, Clone)]
pub struct ReceivedHook {
    /// Whether the Standard Webhooks signature (`webhook-signature` over `webhook-id`,
    /// `webhook-timestamp` and the body) matched under the receiver's key, and the legacy
    /// `X-Creel-Signature` too when it was sent.
    pub signature_ok: bool,
    /// The request's headers.
    pub headers: HeaderMap,
    /// The body (a CloudEvent).
    pub body: serde_json::Value,
}

#[derive(Clone)]
struct Shared {
    files: Arc<BTreeMap<String, Bytes>>,
    pause: Duration,
    hook_secret: String,
    hooks: Arc<Mutex<Vec<ReceivedHook>>>,
}

/// A running sample server; stops when dropped.
#[derive(Debug)]
pub struct SampleServer {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// MD5 (hex) of each sample by name.
    pub md5: BTreeMap<String, String>,
    hooks: Arc<Mutex<Vec<ReceivedHook>>>,
    _stop: tokio_util::sync::DropGuard,
}

impl SampleServer {
    /// Serves `files` (name, length) at `/samples/<name>`, pausing `pause` between chunks, and
    /// receives webhooks at `/hooks/creel`, checking them against `hook_secret`.
    pub async fn start(
        files: &[(&str, usize)],
        pause: Duration,
        hook_secret: &str,
    ) -> std::io::Result<Self> {
        let files: BTreeMap<String, Bytes> = files
            .iter()
            .map(|(n, len)| ((*n).to_owned(), sample_bytes(n, *len)))
            .collect();
        let md5 = files
            .iter()
            .map(|(n, b)| (n.clone(), hex::encode(Md5::digest(b))))
            .collect();
        let hooks = Arc::new(Mutex::new(Vec::new()));
        let shared = Shared {
            files: Arc::new(files),
            pause,
            hook_secret: hook_secret.to_owned(),
            hooks: Arc::clone(&hooks),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let app = Router::new()
            .route("/samples/{name}", get(serve_sample))
            .route("/unsized/{name}", get(serve_unsized))
            .route("/drip/{name}", get(serve_drip))
            .route("/hooks/creel", post(receive_hook))
            .route("/redirect/{name}", get(redirect_to_loopback))
            .with_state(shared);
        let stop = CancellationToken::new();
        let s = stop.clone();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(s.cancelled_owned())
                .await
        });
        Ok(Self {
            base,
            md5,
            hooks,
            _stop: stop.drop_guard(),
        })
    }

    /// The URL of a sample.
    #[must_use]
    pub fn url(&self, name: &str) -> String {
        format!("{}/samples/{name}", self.base)
    }

    /// The webhook receiver's URL.
    #[must_use]
    pub fn hook_url(&self) -> String {
        format!("{}/hooks/creel", self.base)
    }

    /// Webhooks received so far.
    #[must_use]
    pub fn hooks(&self) -> Vec<ReceivedHook> {
        self.hooks.lock().map(|h| h.clone()).unwrap_or_default()
    }
}

/// Deterministic sample bytes for a lesson.
fn sample_bytes(name: &str, len: usize) -> Bytes {
    let seed = name
        .bytes()
        .fold(0u64, |a, b| a.wrapping_mul(31).wrapping_add(u64::from(b)));
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut v = vec![0u8; len];
    rng.fill(&mut v);
    Bytes::from(v)
}

async fn serve_sample(
    State(s): State<Shared>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(whole) = s.files.get(&name).cloned() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let total = whole.len();
    // A single byte range is honoured (206), as CDNs do; anything else (none, several, an
    // unsatisfiable one, another version in If-Range) gets the whole body.
    let etag = format!("\"{}\"", hex::encode(Md5::digest(&whole)));
    let range = creel_sim::files::requested_range(&headers, total as u64, &etag)
        .ok()
        .flatten()
        .and_then(|(first, last)| {
            Some((usize::try_from(first).ok()?, usize::try_from(last).ok()?))
        });
    let data = match range {
        Some((first, last)) => whole.slice(first..=last),
        None => whole.clone(),
    };
    let len = data.len();
    let pause = s.pause;
    let chunks = futures::stream::unfold(0usize, move |at| {
        let data = data.clone();
        async move {
            if at >= data.len() {
                return None;
            }
            if !pause.is_zero() {
                tokio::time::sleep(pause).await;
            }
            let end = (at + CHUNK).min(data.len());
            Some((Ok::<Bytes, std::io::Error>(data.slice(at..end)), end))
        }
    });
    let mut res = (
        [(header::CONTENT_LENGTH, len.to_string())],
        Body::from_stream(chunks),
    )
        .into_response();
    if let Ok(v) = header::HeaderValue::from_str(&etag) {
        res.headers_mut().insert(header::ETAG, v);
    }
    if let Some((first, last)) = range {
        *res.status_mut() = StatusCode::PARTIAL_CONTENT;
        if let Ok(v) = header::HeaderValue::from_str(&format!("bytes {first}-{last}/{total}")) {
            res.headers_mut().insert(header::CONTENT_RANGE, v);
        }
    }
    res
}

/// A sample streamed without `Content-Length` (chunked), as a source that hides its size.
async fn serve_unsized(State(s): State<Shared>, Path(name): Path<String>) -> Response {
    let Some(whole) = s.files.get(&name).cloned() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let chunks = futures::stream::unfold(0usize, move |at| {
        let data = whole.clone();
        async move {
            (at < data.len()).then(|| {
                let end = (at + CHUNK).min(data.len());
                (Ok::<Bytes, std::io::Error>(data.slice(at..end)), end)
            })
        }
    });
    Body::from_stream(chunks).into_response()
}

/// A sample sent one byte per [`DRIP_EVERY`], without a length: a source too slow to finish.
async fn serve_drip(State(s): State<Shared>, Path(name): Path<String>) -> Response {
    let Some(whole) = s.files.get(&name).cloned() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let bytes = futures::stream::unfold(0usize, move |at| {
        let data = whole.clone();
        async move {
            if at >= data.len() {
                return None;
            }
            tokio::time::sleep(DRIP_EVERY).await;
            Some((Ok::<Bytes, std::io::Error>(data.slice(at..=at)), at + 1))
        }
    });
    Body::from_stream(bytes).into_response()
}

/// Redirects to the same sample on 127.0.0.1 (for testing that redirects are checked too).
async fn redirect_to_loopback(headers: HeaderMap, Path(name): Path<String>) -> Response {
    let port = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.rsplit(':').next())
        .unwrap_or("80")
        .to_owned();
    (
        StatusCode::FOUND,
        [(
            header::LOCATION,
            format!("http://127.0.0.1:{port}/samples/{name}"),
        )],
    )
        .into_response()
}

async fn receive_hook(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let key = creel_core::config::webhook_key_bytes(&s.hook_secret).unwrap_or_default();
    let timestamp = header("webhook-timestamp").parse::<i64>().unwrap_or(0);
    let expected =
        creel_jobs::webhook::standard_signature(&[key], &header("webhook-id"), timestamp, &body);
    let standard_ok = header("webhook-signature")
        .split(' ')
        .any(|sig| sig == expected);
    let legacy = header("x-creel-signature");
    let legacy_ok =
        legacy.is_empty() || legacy == creel_jobs::webhook::signature(&s.hook_secret, &body);
    let signature_ok = standard_ok && legacy_ok;
    let parsed = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    if let Ok(mut h) = s.hooks.lock() {
        h.push(ReceivedHook {
            signature_ok,
            headers: headers.clone(),
            body: parsed,
        });
    }
    if signature_ok {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::UNAUTHORIZED
    }
}
