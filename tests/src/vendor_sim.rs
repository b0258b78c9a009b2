//! A vendor simulator for tests: one account per vendor (the VENDORS.md known-answer
//! credentials), fast time, small videos, and creel account configs and clients pointing at it.

use std::net::SocketAddr;
use std::sync::Arc;

use creel_core::config::{Vendor, VendorAccount};
use creel_core::{CallLimiter, Secret, Unlimited};
use creel_sim::{RunningSim, SimAccount, SimConfig, Simulator};
use creel_vendors::{BaijiayunClient, PlasoClient, WeclassroomClient};

/// Plaso's test app id.
pub const PLASO_APP: &str = "demo_app";
/// Plaso's test secret.
pub const PLASO_SECRET: &str = "test-secret-key";
/// Baijiayun's test partner id.
pub const BJY_PARTNER: &str = "12345";
/// Baijiayun's test partner key.
pub const BJY_KEY: &str = "8jewu3j93jjewi3jwj90093jkyu";
/// WeClassroom's test application id.
pub const WC_APP: &str = "3212f5f463edb370ff55d3c3a7a15c8f";
/// WeClassroom's test key (32 bytes).
pub const WC_SECRET: &str = "32bf27979cf0dba95d80f500f553ed53";

/// The test accounts, with `callback` as Plaso's and Baijiayun's dual-teacher callback URL.
#[must_use]
pub fn accounts(callback: Option<&str>) -> Vec<SimAccount> {
    let mut plaso = SimAccount::new(Vendor::Plaso, PLASO_APP, PLASO_SECRET);
    plaso.callback_url = callback.map(str::to_owned);
    let mut bjy = SimAccount::new(Vendor::Baijiayun, BJY_PARTNER, BJY_KEY);
    bjy.callback_url = callback.map(str::to_owned);
    vec![
        plaso,
        bjy,
        SimAccount::new(Vendor::Weclassroom, WC_APP, WC_SECRET),
    ]
}

/// A simulator config: `speed`× time, 60 s steps, 256 KiB videos, the test accounts.
#[must_use]
pub fn config(speed: f64, callback: Option<&str>) -> SimConfig {
    SimConfig {
        speed,
        accounts: accounts(callback),
        video_bytes: 256 << 10,
        ..SimConfig::default()
    }
}

/// Starts a simulator with `config` on a free loopback port.
pub async fn start(config: SimConfig) -> RunningSim {
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap_or_else(|_| unreachable!());
    Simulator::new(config)
        .serve(addr)
        .await
        .unwrap_or_else(|e| panic!("simulator did not start: {e}"))
}

/// The creel account config of `vendor` pointing at `sim`.
#[must_use]
pub fn account(sim: &RunningSim, vendor: Vendor) -> VendorAccount {
    let (id, secret) = match vendor {
        Vendor::Plaso => (PLASO_APP, PLASO_SECRET),
        Vendor::Baijiayun => (BJY_PARTNER, BJY_KEY),
        Vendor::Weclassroom => (WC_APP, WC_SECRET),
    };
    let mut a = VendorAccount::new(vendor, id, Secret::new(secret));
    a.base_url = Some(sim.vendor_base(vendor));
    a.timeout_ms = 2_000;
    a
}

fn limiter() -> Arc<dyn CallLimiter> {
    Arc::new(Unlimited)
}

/// A Plaso client for `account`.
#[must_use]
pub fn plaso(account: &VendorAccount) -> PlasoClient {
    PlasoClient::new("plaso-test", account, reqwest::Client::new(), limiter())
        .unwrap_or_else(|e| panic!("plaso client: {e}"))
}

/// A Baijiayun client for `account`.
#[must_use]
pub fn baijiayun(account: &VendorAccount) -> BaijiayunClient {
    BaijiayunClient::new("bjy-test", account, reqwest::Client::new(), limiter())
        .unwrap_or_else(|e| panic!("baijiayun client: {e}"))
}

/// A WeClassroom client for `account`.
#[must_use]
pub fn weclassroom(account: &VendorAccount) -> WeclassroomClient {
    WeclassroomClient::new("wc-test", account, reqwest::Client::new(), limiter())
        .unwrap_or_else(|e| panic!("weclassroom client: {e}"))
}

/// One request the callback receiver got.
#[derive(Debug, Clone)]
pub struct ReceivedCallback {
    /// The body as sent.
    pub body: Vec<u8>,
    /// Whether it was acknowledged.
    pub acknowledged: bool,
}

/// A callback receiver: answers the first `fail_first` requests with HTTP 500, then
/// `{"code":0}`; remembers every request.
#[derive(Debug)]
pub struct CallbackReceiver {
    /// `http://127.0.0.1:<port>/cb`.
    pub url: String,
    got: Arc<std::sync::Mutex<Vec<ReceivedCallback>>>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl CallbackReceiver {
    /// Starts the receiver.
    pub async fn start(fail_first: usize) -> Self {
        use axum::routing::post;
        let got: Arc<std::sync::Mutex<Vec<ReceivedCallback>>> = Arc::default();
        let shared = Arc::clone(&got);
        let app = axum::Router::new().route(
            "/cb",
            post(move |body: axum::body::Bytes| {
                let got = Arc::clone(&shared);
                async move {
                    let mut got = got.lock().unwrap_or_else(|p| p.into_inner());
                    let acknowledged = got.len() >= fail_first;
                    got.push(ReceivedCallback {
                        body: body.to_vec(),
                        acknowledged,
                    });
                    if acknowledged {
                        (axum::http::StatusCode::OK, r#"{"code":0,"message":""}"#)
                    } else {
                        (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "not now")
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let url = format!(
            "http://{}/cb",
            listener
                .local_addr()
                .unwrap_or_else(|e| panic!("addr: {e}"))
        );
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Self {
            url,
            got,
            _stop: stop,
        }
    }

    /// Everything received so far.
    #[must_use]
    pub fn received(&self) -> Vec<ReceivedCallback> {
        self.got.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Waits until `n` requests arrived (or panics after `timeout`).
    pub async fn wait_for(&self, n: usize, timeout: std::time::Duration) -> Vec<ReceivedCallback> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "expected {n} callbacks within {timeout:?}, got {}",
                got.len()
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
}

/// Polls `probe` every 10 ms until it returns `Some`, or panics after `timeout` naming `what`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: std::time::Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} did not happen within {timeout:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// MD5 (hex) of the body at `url`, and its HTTP status.
pub async fn fetch_md5(url: &str) -> (u16, String) {
    use md5::{Digest, Md5};
    let r = reqwest::get(url)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = r.status().as_u16();
    let body = r.bytes().await.unwrap_or_default();
    (status, hex::encode(Md5::digest(&body)))
}
