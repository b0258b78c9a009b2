//! The simulator's quota is exact: 200 requests in a sliding 10 s window are answered, the
//! 201st is refused with the rate-limit answer, which the client classifies as retry-after.

use creel_core::config::Vendor;
use creel_tests::vendor_sim::{self, BJY_PARTNER};
use creel_vendors::baijiayun::Playback;
use creel_vendors::{Classification, VendorError};

#[tokio::test]
async fn the_201st_request_in_a_window_is_refused() {
    let sim = vendor_sim::start(vendor_sim::config(1.0, None)).await;
    let client = vendor_sim::baijiayun(&vendor_sim::account(&sim, Vendor::Baijiayun));
    let room = Playback {
        room_id: 1,
        session_id: None,
    };
    for i in 0..200 {
        let err = client.playback_info(room).await.expect_err("no such room");
        assert_eq!(
            err.vendor_code(),
            Some(3001),
            "request {} must be answered: {err}",
            i + 1
        );
    }
    let err = client.playback_info(room).await.expect_err("over quota");
    assert!(matches!(err, VendorError::RateLimited { .. }), "{err}");
    assert!(matches!(
        err.classification(),
        Classification::RetryAfter(_)
    ));
    assert_eq!(
        sim.sim.window_max(Vendor::Baijiayun, BJY_PARTNER, 10_000),
        201
    );
    let refused = sim
        .sim
        .requests()
        .iter()
        .filter(|r| r.outcome == "rate_limited")
        .count();
    assert_eq!(refused, 1);
}

/// A limiter that counts permits and penalties and refuses once `budget` permits are spent.
#[derive(Default)]
struct CountingLimiter {
    budget: usize,
    permits: std::sync::atomic::AtomicUsize,
    penalties: std::sync::Mutex<Vec<std::time::Duration>>,
}

impl creel_core::CallLimiter for CountingLimiter {
    fn acquire<'a>(
        &'a self,
        key: creel_core::QuotaKey<'a>,
    ) -> creel_core::limit::LimitFuture<'a, Result<creel_core::Permit, creel_core::JobError>> {
        Box::pin(async move {
            assert_eq!(
                (key.vendor, key.account),
                (Vendor::Baijiayun, "bjy-counted")
            );
            let n = self
                .permits
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if n < self.budget {
                Ok(creel_core::Permit::free())
            } else {
                Err(creel_core::JobError::retry_after(
                    std::time::Duration::from_secs(3),
                    "quota wait too long",
                ))
            }
        })
    }

    fn penalize<'a>(
        &'a self,
        _key: creel_core::QuotaKey<'a>,
        pause: std::time::Duration,
    ) -> creel_core::limit::LimitFuture<'a, ()> {
        Box::pin(async move { self.penalties.lock().expect("lock").push(pause) })
    }
}

#[tokio::test]
async fn every_call_takes_a_permit_and_rate_limit_answers_reach_the_limiter() {
    let sim = vendor_sim::start(vendor_sim::config(1.0, None)).await;
    let limiter = std::sync::Arc::new(CountingLimiter {
        budget: 2,
        ..CountingLimiter::default()
    });
    let client = creel_vendors::BaijiayunClient::new(
        "bjy-counted",
        &vendor_sim::account(&sim, Vendor::Baijiayun),
        reqwest::Client::new(),
        limiter.clone(),
    )
    .expect("client");
    let room = Playback {
        room_id: 1,
        session_id: None,
    };
    sim.sim.inject(creel_sim::Fault {
        vendor: "baijiayun".into(),
        endpoint: "*".into(),
        kind: creel_sim::FaultKind::RateLimit,
        count: 1,
    });
    let err = client.playback_info(room).await.expect_err("429");
    assert!(matches!(err, VendorError::RateLimited { .. }));
    assert_eq!(
        limiter.penalties.lock().expect("lock").len(),
        1,
        "the limiter hears about the 429"
    );
    client.playback_info(room).await.expect_err("3001");
    let err = client.playback_info(room).await.expect_err("no permit");
    assert!(matches!(err, VendorError::Limited { .. }), "{err}");
    assert_eq!(
        err.classification(),
        Classification::RetryAfter(std::time::Duration::from_secs(3))
    );
    assert_eq!(
        sim.sim.requests().len(),
        2,
        "a call without a permit never reaches the vendor"
    );
}
