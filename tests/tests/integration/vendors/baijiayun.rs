//! Baijiayun: every playback, pure-video and VOD endpoint against the simulator, and the
//! classification of the documented error codes and of HTTP and transport failures.

use std::collections::BTreeMap;
use std::time::Duration;

use creel_core::config::Vendor;
use creel_sim::baijiayun::{ClassType, TaskOutcome};
use creel_sim::{Fault, FaultKind, RateLimitAnswer};
use creel_tests::vendor_sim::{self, BJY_PARTNER, eventually, fetch_md5};
use creel_vendors::baijiayun::model::{CropSegment, PlaybackStatus, VodStatus};
use creel_vendors::baijiayun::{self as bjy, Playback};
use creel_vendors::{BaijiayunClient, Classification, VendorError};

const WAIT: Duration = Duration::from_secs(10);

async fn ready(client: &BaijiayunClient, playback: Playback) {
    eventually("playback transcoded", WAIT, || async {
        let info = client.playback_info(playback).await.expect("API 1");
        (info.status == PlaybackStatus::Ready).then_some(())
    })
    .await;
}

#[tokio::test]
async fn playbacks_crops_and_pure_videos() {
    let sim = vendor_sim::start(vendor_sim::config(600.0, None)).await;
    let client = vendor_sim::baijiayun(&vendor_sim::account(&sim, Vendor::Baijiayun));
    let room = 22_042_493_748_699;
    sim.sim.baijiayun_add_playback(
        BJY_PARTNER,
        room,
        202_204_240,
        ClassType::WebrtcLargeClass,
        None,
    );
    let pb = Playback {
        room_id: room,
        session_id: Some(202_204_240),
    };
    ready(&client, pb).await;

    let page = client.playback_list(None, 1, 10).await.expect("API 2");
    assert_eq!(page.list.len(), 1);
    assert_eq!(page.list[0].room_id, room);

    let segments = [
        CropSegment {
            start_time: 0,
            end_time: 60,
            name: "intro".into(),
        },
        CropSegment {
            start_time: 60,
            end_time: 300,
            name: "lesson".into(),
        },
    ];
    let batch = client.batch_crop(pb, &segments).await.expect("API 35");
    assert_eq!(batch.list.len(), 2);
    let fixed = client.segment_crop(pb, 200).await.expect("API 17");
    assert_eq!(fixed.list.len(), 3, "600 s in 200 s segments");
    let versions: Vec<i64> = batch
        .list
        .iter()
        .chain(&fixed.list)
        .map(|v| v.version)
        .collect();
    assert_eq!(versions, [1, 2, 3, 4, 5]);
    eventually("crops transcoded", WAIT, || async {
        let crops = client.crop_list(pb, 1, 100).await.expect("API 10");
        (crops.list.len() == 6 && crops.list.iter().all(|c| c.status == PlaybackStatus::Ready))
            .then_some(())
    })
    .await;

    client.pure_video(pb, Some(1)).await.expect("API 16");
    let url = eventually("pure video", WAIT, || async {
        match client.pure_video_url(pb, None).await {
            Ok(u) => Some(u),
            Err(e) => {
                assert_eq!(e.vendor_code(), Some(1), "{e}");
                None
            }
        }
    })
    .await;
    let expires = url.expires_unix().expect("t= in the URL");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    assert!(
        expires > now + 29 * 24 * 3600,
        "pure-video URLs live 30 days"
    );
    let (status, _) = fetch_md5(&url.url).await;
    assert_eq!(status, 200);

    // API 19 skips what is already queued: an empty list is not a failure.
    let again = client.room_pure_video(room).await.expect("API 19");
    assert!(again.success_fids.is_empty(), "{again:?}");
    assert_eq!(
        sim.sim.baijiayun_submissions()[&format!("pure_video:{room}:202204240")],
        1
    );
}

#[tokio::test]
async fn api_16_needs_a_large_class_and_api_17_a_webrtc_one() {
    let sim = vendor_sim::start(vendor_sim::config(600.0, None)).await;
    let client = vendor_sim::baijiayun(&vendor_sim::account(&sim, Vendor::Baijiayun));
    sim.sim
        .baijiayun_add_playback(BJY_PARTNER, 7001, 0, ClassType::SmallClass, None);
    sim.sim
        .baijiayun_add_playback(BJY_PARTNER, 7002, 0, ClassType::LargeClass, None);
    let small = Playback {
        room_id: 7001,
        session_id: None,
    };
    let large = Playback {
        room_id: 7002,
        session_id: None,
    };
    ready(&client, small).await;
    ready(&client, large).await;
    let err = client
        .pure_video(small, None)
        .await
        .expect_err("small class");
    assert_eq!(err.vendor_code(), Some(1));
    let err = client
        .segment_crop(large, 100)
        .await
        .expect_err("not webrtc");
    assert_eq!(err.vendor_code(), Some(1));
    let fids = client.room_pure_video(7002).await.expect("API 19");
    assert_eq!(fids.success_fids, ["0"]);
}

#[tokio::test]
async fn merged_playbacks_become_pure_videos() {
    let sim = vendor_sim::start(vendor_sim::config(600.0, None)).await;
    let client = vendor_sim::baijiayun(&vendor_sim::account(&sim, Vendor::Baijiayun));
    let mixed = sim.sim.baijiayun_add_merged_playback(BJY_PARTNER);
    client.merge_pure_video(mixed).await.expect("API 38");
    let info = eventually("merged pure video", WAIT, || async {
        client.merge_pure_video_info(mixed).await.ok()
    })
    .await;
    let (definition, rendition) = info.best().expect("a rendition");
    assert_eq!(definition, "720p");
    assert_eq!(fetch_md5(&rendition.url).await.0, 200);
    let err = client
        .merge_pure_video(mixed + 1)
        .await
        .expect_err("unknown");
    assert_eq!(err.vendor_code(), Some(3001));
}

#[tokio::test]
async fn vod_status_info_and_fresh_urls() {
    let sim = vendor_sim::start(vendor_sim::config(600.0, None)).await;
    let client = vendor_sim::baijiayun(&vendor_sim::account(&sim, Vendor::Baijiayun));
    let video = sim.sim.baijiayun_add_vod(BJY_PARTNER, TaskOutcome::Success);
    assert_eq!(
        client.vod_status(video).await.expect("getStatus").status,
        VodStatus::Transcoding
    );
    eventually("VOD transcoded", WAIT, || async {
        (client.vod_status(video).await.expect("getStatus").status == VodStatus::Ready)
            .then_some(())
    })
    .await;
    let info = client.vod_info(video).await.expect("getInfo");
    let play = client.vod_url(video, None).await.expect("getUrl");
    let (_, rendition) = play.best().expect("rendition");
    let (status, md5) = fetch_md5(&rendition.url).await;
    assert_eq!(status, 200);
    assert_eq!(
        info.file_md5.as_deref(),
        Some(md5.as_str()),
        "file_md5 matches the bytes"
    );

    // A URL that expired is refused, as the CDN does; a fresh one works.
    let short = client.vod_url(video, Some(1)).await.expect("getUrl");
    tokio::time::sleep(Duration::from_millis(20)).await; // 12 vendor seconds at 600x
    assert_eq!(fetch_md5(&short.best().expect("r").1.url).await.0, 403);

    let failed = sim.sim.baijiayun_add_vod(BJY_PARTNER, TaskOutcome::Failure);
    let status = eventually("VOD failed", WAIT, || async {
        let s = client.vod_status(failed).await.expect("getStatus").status;
        s.is_failure().then_some(s)
    })
    .await;
    assert_eq!(status, VodStatus::Failed);
}

#[tokio::test]
async fn transcode_callback_url_is_set_and_read_back() {
    let sim = vendor_sim::start(vendor_sim::config(1.0, None)).await;
    let client = vendor_sim::baijiayun(&vendor_sim::account(&sim, Vendor::Baijiayun));
    assert_eq!(client.transcode_callback_url().await.expect("get"), "");
    client
        .set_transcode_callback_url("https://creel.example.com/v1/callbacks/bjy")
        .await
        .expect("set");
    assert_eq!(
        client.transcode_callback_url().await.expect("get"),
        "https://creel.example.com/v1/callbacks/bjy"
    );
    let err = client
        .set_transcode_callback_url("ftp://x")
        .await
        .expect_err("not http");
    assert!(matches!(err, VendorError::InvalidRequest { .. }));
}

#[tokio::test]
async fn documented_errors_are_classified() {
    let sim = vendor_sim::start(vendor_sim::config(1.0, None)).await;
    let account = vendor_sim::account(&sim, Vendor::Baijiayun);
    let client = vendor_sim::baijiayun(&account);
    let room = Playback {
        room_id: 424_242,
        session_id: None,
    };

    let err = client.playback_info(room).await.expect_err("no room");
    assert_eq!(
        (err.vendor_code(), err.classification()),
        (Some(3001), Classification::Permanent)
    );

    let err = client
        .call(&bjy::PLAYBACK_INFO, BTreeMap::new())
        .await
        .expect_err("no room_id");
    assert_eq!(
        (err.vendor_code(), err.classification()),
        (Some(1001), Classification::Permanent)
    );

    let mut wrong = account.clone();
    wrong.secret = creel_core::Secret::new("not-the-key");
    let err = vendor_sim::baijiayun(&wrong)
        .playback_info(room)
        .await
        .expect_err("bad sign");
    assert_eq!(
        (err.vendor_code(), err.classification()),
        (Some(1002), Classification::Permanent)
    );

    let mut stranger = account.clone();
    stranger.id = "999".into();
    let err = vendor_sim::baijiayun(&stranger)
        .playback_info(room)
        .await
        .expect_err("no account");
    assert_eq!(
        (err.vendor_code(), err.classification()),
        (Some(2001), Classification::Permanent)
    );

    let fault = |kind| Fault {
        vendor: "baijiayun".into(),
        endpoint: "*".into(),
        kind,
        count: 1,
    };
    sim.sim.inject(fault(FaultKind::Status { status: 502 }));
    let err = client.playback_info(room).await.expect_err("502");
    assert!(matches!(err, VendorError::Http { status: 502, .. }));
    assert_eq!(err.classification(), Classification::Retryable);

    sim.sim.inject(fault(FaultKind::Malformed));
    let err = client.playback_info(room).await.expect_err("malformed");
    assert!(matches!(err, VendorError::Undecodable { .. }), "{err}");
    assert_eq!(err.classification(), Classification::Retryable);

    sim.sim.inject(fault(FaultKind::BadSign));
    let err = client
        .playback_info(room)
        .await
        .expect_err("injected bad sign");
    assert_eq!(err.vendor_code(), Some(1002));

    sim.sim.inject(fault(FaultKind::RateLimit));
    let err = client.playback_info(room).await.expect_err("429");
    assert!(
        matches!(err.classification(), Classification::RetryAfter(_)),
        "{err}"
    );

    let mut impatient = account.clone();
    impatient.timeout_ms = 200;
    sim.sim.inject(fault(FaultKind::Timeout));
    let err = vendor_sim::baijiayun(&impatient)
        .playback_info(room)
        .await
        .expect_err("timeout");
    assert!(matches!(err, VendorError::Transport { .. }), "{err}");
    assert_eq!(err.classification(), Classification::Retryable);

    sim.sim.inject(fault(FaultKind::Slow { delay_ms: 50 }));
    let err = client
        .playback_info(room)
        .await
        .expect_err("slow but answered");
    assert_eq!(err.vendor_code(), Some(3001));

    let mut gone = account.clone();
    gone.base_url = Some("http://127.0.0.1:9".into());
    let err = vendor_sim::baijiayun(&gone)
        .playback_info(room)
        .await
        .expect_err("refused");
    assert!(matches!(err, VendorError::Transport { .. }), "{err}");
    assert_eq!(err.classification(), Classification::Retryable);
}

#[tokio::test]
async fn a_rate_limit_code_in_the_envelope_is_retry_after_when_configured() {
    let mut config = vendor_sim::config(1.0, None);
    config.rate_limit = RateLimitAnswer {
        http_status: 200,
        code: 2005,
    };
    let sim = vendor_sim::start(config).await;
    let mut account = vendor_sim::account(&sim, Vendor::Baijiayun);
    let room = Playback {
        room_id: 1,
        session_id: None,
    };
    sim.sim.inject(Fault {
        vendor: "baijiayun".into(),
        endpoint: "*".into(),
        kind: FaultKind::RateLimit,
        count: 2,
    });
    let err = vendor_sim::baijiayun(&account)
        .playback_info(room)
        .await
        .expect_err("2005");
    assert_eq!(
        err.classification(),
        Classification::Permanent,
        "unconfigured codes are not guessed"
    );
    account.rate_limit_codes = vec![2005];
    let err = vendor_sim::baijiayun(&account)
        .playback_info(room)
        .await
        .expect_err("2005");
    assert!(matches!(err, VendorError::RateLimited { .. }), "{err}");
}

#[test]
fn every_documented_code_has_its_class() {
    for (code, class) in [
        (0, Classification::Success),
        (1, Classification::Retryable),
        (404, Classification::Permanent),
        (1001, Classification::Permanent),
        (1002, Classification::Permanent),
        (2001, Classification::Permanent),
        (2002, Classification::Permanent),
        (2003, Classification::Permanent),
        (3001, Classification::Permanent),
        (3002, Classification::Permanent),
        (4001, Classification::Retryable),
    ] {
        assert_eq!(bjy::classify_code(code), class, "code {code}");
    }
}
