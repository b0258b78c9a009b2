//! Callbacks from the simulator to a real receiver: Baijiayun VOD, playback, pure-video and
//! dual-teacher callbacks verified by sign (good, bad, missing field, stale; a replay names the same digest), retried
//! after a failed delivery, and dropped on purpose.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use creel_core::config::Vendor;
use creel_sim::baijiayun::{ClassType, TaskOutcome};
use creel_tests::vendor_sim::{self, BJY_KEY, BJY_PARTNER, CallbackReceiver};
use creel_vendors::baijiayun::callback::{self, Callback, CallbackError};
use creel_vendors::baijiayun::model::{PlaybackStatus, VodStatus};
use creel_vendors::baijiayun::sign;

const MAX_AGE: Duration = Duration::from_secs(600);

fn fields(body: &[u8]) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

#[tokio::test]
async fn a_vod_callback_verifies_and_a_replay_stale_or_forged_one_does_not() {
    let receiver = CallbackReceiver::start(0).await;
    let sim = vendor_sim::start(vendor_sim::config(600.0, None)).await;
    let client = vendor_sim::baijiayun(&vendor_sim::account(&sim, Vendor::Baijiayun));
    client
        .set_transcode_callback_url(&receiver.url)
        .await
        .expect("set callback URL");
    let video = sim.sim.baijiayun_add_vod(BJY_PARTNER, TaskOutcome::Success);
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    let f = fields(&got[0].body);

    let v = callback::verify(&f, BJY_KEY, now(), MAX_AGE).expect("verifies");
    match v.callback {
        Callback::VodTranscode {
            video_id,
            status,
            file_md5,
            ..
        } => {
            assert_eq!(video_id, video);
            assert_eq!(status, VodStatus::Ready);
            assert_eq!(file_md5, sim.sim.baijiayun_video_md5(video));
        }
        other => panic!("expected a VOD callback, got {other:?}"),
    }
    // The replay key is the whole signed content: the same callback again names the same
    // digest (the receiver claims it once, in Redis), and no other content does.
    let again = callback::verify(&f, BJY_KEY, now(), MAX_AGE).expect("verifies again");
    assert_eq!(again.digest, v.digest);

    let mut forged = f.clone();
    forged.insert("status".into(), "30".into());
    assert_eq!(
        callback::verify(&forged, BJY_KEY, now(), MAX_AGE),
        Err(CallbackError::BadSign)
    );
    assert_eq!(
        callback::verify(&f, "other-key", now(), MAX_AGE),
        Err(CallbackError::BadSign)
    );

    let later = now() + 3600;
    assert!(matches!(
        callback::verify(&f, BJY_KEY, later, MAX_AGE),
        Err(CallbackError::Stale { .. })
    ));

    let mut no_qid = f.clone();
    no_qid.remove("qid");
    no_qid.remove("sign");
    let s = sign::sign(&no_qid, BJY_KEY);
    no_qid.insert("sign".into(), s);
    assert_eq!(
        callback::verify(&no_qid, BJY_KEY, now(), MAX_AGE),
        Err(CallbackError::MissingField("qid"))
    );
}

#[tokio::test]
async fn playback_pure_video_and_dual_teacher_callbacks() {
    let receiver = CallbackReceiver::start(0).await;
    let sim = vendor_sim::start(vendor_sim::config(600.0, Some(&receiver.url))).await;
    let client = vendor_sim::baijiayun(&vendor_sim::account(&sim, Vendor::Baijiayun));
    client
        .set_transcode_callback_url(&receiver.url)
        .await
        .expect("set callback URL");
    let video = sim.sim.baijiayun_add_playback(
        BJY_PARTNER,
        5005,
        77,
        ClassType::LargeClass,
        Some("S-2026-11-22-1"),
    );
    // The transcode callback and the dual-teacher auto-match callback.
    let got = receiver.wait_for(2, Duration::from_secs(10)).await;
    let kinds: Vec<Callback> = got
        .iter()
        .map(|c| {
            callback::verify(&fields(&c.body), BJY_KEY, now(), MAX_AGE)
                .expect("verifies")
                .callback
        })
        .collect();
    assert!(kinds.iter().any(|c| matches!(c, Callback::PlaybackTranscode { room_id: 5005, session_id: Some(77), status: PlaybackStatus::Ready, video_id, .. } if *video_id == video)), "{kinds:?}");
    assert!(kinds.iter().any(|c| matches!(c, Callback::AutoMatch { serial_number, status: PlaybackStatus::Ready, .. } if serial_number == "S-2026-11-22-1")), "{kinds:?}");

    client
        .pure_video(
            creel_vendors::baijiayun::Playback {
                room_id: 5005,
                session_id: Some(77),
            },
            None,
        )
        .await
        .expect("API 16");
    let got = receiver.wait_for(3, Duration::from_secs(10)).await;
    let pure = callback::verify(&fields(&got[2].body), BJY_KEY, now(), MAX_AGE).expect("verifies");
    assert!(
        matches!(
            pure.callback,
            Callback::PureVideo {
                room_id: Some(5005),
                status: 100,
                ..
            }
        ),
        "{pure:?}"
    );
}

#[tokio::test]
async fn a_failed_delivery_is_retried_and_a_dropped_one_never_arrives() {
    let receiver = CallbackReceiver::start(1).await;
    let sim = vendor_sim::start(vendor_sim::config(600.0, None)).await;
    let client = vendor_sim::baijiayun(&vendor_sim::account(&sim, Vendor::Baijiayun));
    client
        .set_transcode_callback_url(&receiver.url)
        .await
        .expect("set callback URL");
    sim.sim.baijiayun_add_vod(BJY_PARTNER, TaskOutcome::Success);
    let got = receiver.wait_for(2, Duration::from_secs(10)).await;
    assert!(!got[0].acknowledged && got[1].acknowledged);
    assert_eq!(
        got[0].body, got[1].body,
        "a retry resends the same callback (same qid)"
    );
    // The simulator logs a delivery once it has read the answer, which can be a moment after
    // the receiver saw the request.
    let attempts: Vec<(u32, bool)> =
        vendor_sim::eventually("both deliveries logged", Duration::from_secs(5), || async {
            let d: Vec<(u32, bool)> = sim
                .sim
                .deliveries()
                .iter()
                .map(|d| (d.attempt, d.acknowledged))
                .collect();
            (d.len() >= 2).then_some(d)
        })
        .await;
    assert_eq!(attempts, [(1, false), (2, true)]);

    sim.sim.drop_callbacks(1);
    sim.sim.baijiayun_add_vod(BJY_PARTNER, TaskOutcome::Failure);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        receiver.received().len(),
        2,
        "the dropped callback must not arrive"
    );
    assert!(sim.sim.deliveries().iter().any(|d| d.dropped));
}
