//! A simulator of creel's vendors, speaking real HTTP on one port, path-routed per vendor:
//! `/plaso/…`, `/baijiayun/…`, `/weclassroom/…`, the videos at `/files/…` and an inspection
//! API at `/_sim/…`. It checks signatures with its own code, keeps state (records, playbacks,
//! tasks, videos), moves tasks through the documented statuses on an accelerated clock, sends
//! callbacks with each vendor's retries, enforces quotas, injects faults and logs every
//! request. creel's tests, demo and benchmarks run against it; it knows nothing of creel's
//! internals.

// Handlers return a whole HTTP answer as their error; its size does not matter here.
#![allow(clippy::result_large_err)]

pub mod baijiayun;
mod callbacks;
pub mod china_time;
pub mod clock;
pub mod config;
pub mod faults;
pub mod files;
mod gate;
mod inspect;
pub mod log;
pub mod plaso;
pub mod quota;
pub mod verify;
pub mod weclassroom;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;
use creel_core::config::Vendor;

pub use callbacks::{CallbackBody, Delivery};
pub use config::{FidReading, RateLimitAnswer, SimAccount, SimConfig};
pub use faults::{Fault, FaultKind};
pub use files::SimFile;
pub use log::LoggedRequest;

use crate::callbacks::CallbackSender;
use crate::clock::SimClock;
use crate::faults::Faults;
use crate::quota::SlidingWindow;

/// Everything the simulated vendors know.
#[derive(Debug, Default)]
pub(crate) struct World {
    pub(crate) log: Vec<LoggedRequest>,
    pub(crate) faults: Faults,
    pub(crate) windows: HashMap<(Vendor, String), SlidingWindow>,
    pub(crate) files: HashMap<String, SimFile>,
    pub(crate) plaso: plaso::PlasoWorld,
    pub(crate) baijiayun: baijiayun::BaijiayunWorld,
    pub(crate) weclassroom: weclassroom::WeclassroomWorld,
    next_id: u64,
}

impl World {
    /// A fresh number for ids.
    pub(crate) fn next(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}

struct Inner {
    config: SimConfig,
    clock: SimClock,
    started: Instant,
    world: Mutex<World>,
    callbacks: CallbackSender,
    url_secret: String,
    base: OnceLock<String>,
}

/// A simulator (cheap to clone; clones share state).
#[derive(Clone)]
pub struct Simulator {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("base", &self.inner.base.get())
            .finish_non_exhaustive()
    }
}

/// A simulator serving on a port; stops when dropped.
#[derive(Debug)]
pub struct RunningSim {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The simulator, for seeding state and inspecting it.
    pub sim: Simulator,
    stop: tokio::sync::watch::Sender<bool>,
}

impl Drop for RunningSim {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

impl RunningSim {
    /// The base URL a creel account of `vendor` should use.
    #[must_use]
    pub fn vendor_base(&self, vendor: Vendor) -> String {
        format!("{}/{}", self.base, vendor.as_str())
    }
}

impl Simulator {
    /// A simulator with `config`; call [`Simulator::serve`] to put it on a port.
    #[must_use]
    pub fn new(config: SimConfig) -> Self {
        let clock = SimClock::new(config.speed);
        Self {
            inner: Arc::new(Inner {
                callbacks: CallbackSender::new(clock),
                clock,
                config,
                started: Instant::now(),
                world: Mutex::default(),
                url_secret: format!("sim-{:016x}", fastrand_seed()),
                base: OnceLock::new(),
            }),
        }
    }

    /// Starts serving on `addr` (use port 0 for a free one) and the task clock.
    pub async fn serve(self, addr: SocketAddr) -> std::io::Result<RunningSim> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let base = format!("http://{}", listener.local_addr()?);
        let _ = self.inner.base.set(base.clone());
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let app = self.router();
        let mut server_stop = stopped.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = server_stop.wait_for(|s| *s).await;
                })
                .await;
        });
        let ticker = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stopped.wait_for(|s| *s) => break,
                    () = tokio::time::sleep(Duration::from_millis(10)) => ticker.tick(),
                }
            }
        });
        Ok(RunningSim {
            base,
            sim: self,
            stop,
        })
    }

    /// The routes, for embedding in another server.
    pub fn router(&self) -> Router {
        Router::new()
            .merge(plaso::routes())
            .merge(baijiayun::routes())
            .merge(weclassroom::routes())
            .merge(inspect::routes())
            .with_state(self.clone())
    }

    pub(crate) fn world(&self) -> MutexGuard<'_, World> {
        self.inner.world.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn config(&self) -> &SimConfig {
        &self.inner.config
    }

    pub(crate) fn clock(&self) -> &SimClock {
        &self.inner.clock
    }

    pub(crate) fn callbacks(&self) -> &CallbackSender {
        &self.inner.callbacks
    }

    /// Real milliseconds since start.
    pub(crate) fn now_ms(&self) -> u64 {
        self.inner.started.elapsed().as_millis() as u64
    }

    /// The account `id` of `vendor`.
    pub(crate) fn account(&self, vendor: Vendor, id: &str) -> Option<SimAccount> {
        self.inner
            .config
            .accounts
            .iter()
            .find(|a| a.vendor == vendor && a.id == id)
            .cloned()
    }

    /// The base URL the simulator serves on (empty before [`Simulator::serve`]).
    #[must_use]
    pub fn base(&self) -> String {
        self.inner.base.get().cloned().unwrap_or_default()
    }

    /// Registers a generated video of the configured size and returns it.
    pub(crate) fn new_file(&self, world: &mut World, prefix: &str) -> SimFile {
        let n = world.next();
        let file = SimFile::new(format!("{prefix}{n}"), self.config().video_bytes, n);
        world.files.insert(file.id.clone(), file.clone());
        file
    }

    /// A signed URL for `file`, valid for `ttl` of vendor time.
    pub(crate) fn file_url(&self, file: &SimFile, ttl: Duration) -> String {
        files::signed_url(
            &self.base(),
            file,
            self.clock().unix_secs() + ttl.as_secs(),
            &self.inner.url_secret,
        )
    }

    pub(crate) fn url_secret(&self) -> &str {
        &self.inner.url_secret
    }

    /// Advances every task whose time has come and fires its callbacks.
    fn tick(&self) {
        plaso::tick(self);
        baijiayun::tick(self);
    }

    /// The MD5 of the simulated file behind a `/files/<id>.mp4` URL (its query, which creel
    /// redacts in results, is not needed).
    #[must_use]
    pub fn file_md5_of_url(&self, url: &str) -> Option<String> {
        let path = url.split(['?', '#']).next()?;
        let id = path.rsplit('/').next()?.trim_end_matches(".mp4");
        self.world().files.get(id).map(|f| f.md5.clone())
    }

    /// Every request so far.
    #[must_use]
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.world().log.clone()
    }

    /// The most requests `vendor` account `id` made in any window of `window_ms` (counting
    /// refused ones too: what the client sent, not what was let through).
    #[must_use]
    pub fn window_max(&self, vendor: Vendor, id: &str, window_ms: u64) -> usize {
        let times: Vec<u64> = self
            .world()
            .log
            .iter()
            .filter(|r| r.vendor == vendor.as_str() && r.account.as_deref() == Some(id))
            .map(|r| r.at_ms)
            .collect();
        quota::max_in_window(&times, window_ms)
    }

    /// Arms a fault.
    pub fn inject(&self, fault: Fault) {
        self.world().faults.arm(fault);
    }

    /// Every callback delivery attempt so far.
    #[must_use]
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.callbacks().deliveries()
    }

    /// Drops the next `n` callbacks (with all their retries).
    pub fn drop_callbacks(&self, n: u32) {
        self.callbacks().drop_next(n);
    }

    /// Forgets every request, task, record, video, fault and delivery (accounts stay).
    pub fn reset(&self) {
        *self.world() = World::default();
        self.callbacks().clear();
    }
}

/// A seed for the URL secret that differs between runs.
fn fastrand_seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    t.as_nanos() as u64 ^ u64::from(std::process::id()).rotate_left(32)
}

/// A config with one demo account per vendor (the known-answer credentials of VENDORS.md),
/// 1000× time and 8 MiB videos: what `creel sim` and `creel demo` run.
#[must_use]
pub fn demo_config() -> SimConfig {
    SimConfig {
        speed: 1000.0,
        accounts: vec![
            SimAccount::new(Vendor::Plaso, "demo_app", "test-secret-key"),
            SimAccount::new(Vendor::Baijiayun, "12345", "8jewu3j93jjewi3jwj90093jkyu"),
            SimAccount::new(
                Vendor::Weclassroom,
                "sim-app",
                "32bf27979cf0dba95d80f500f553ed53",
            ),
        ],
        video_bytes: 8 << 20,
        ..SimConfig::default()
    }
}

impl Simulator {
    /// Sample data for the demo: Plaso records `demo-record-1..3`, WeClassroom lessons
    /// 10001–10003, Baijiayun rooms 20261122001–003 (large class, one playback each), three
    /// VOD videos (ids from 600001) and a merged playback.
    pub fn seed_demo(&self) {
        for i in 1..=3 {
            self.plaso_add_record(&format!("demo-record-{i}"), plaso::PlasoOutcome::Success);
            self.weclassroom_add_lesson(10_000 + i, &[100 + i]);
            self.baijiayun_add_playback(
                "12345",
                20_261_122_000 + i,
                0,
                baijiayun::ClassType::LargeClass,
                None,
            );
            self.baijiayun_add_vod("12345", baijiayun::TaskOutcome::Success);
        }
        self.baijiayun_add_merged_playback("12345");
    }
}
