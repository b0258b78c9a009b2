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
