//! WeClassroom: API 18, 21 and 24 against the simulator (which opens every signMsg with its own
//! AES, HMAC and unserialize code), the documented error codes, and a property test that any
//! parameters survive signMsg → independent decrypt unchanged.

use creel_core::config::Vendor;
use creel_sim::verify::{SignMsgError, weclassroom_open};
use creel_tests::vendor_sim::{self, WC_SECRET, fetch_md5};
use creel_vendors::weclassroom::model::{LessonStatus, normalize_url};
use creel_vendors::weclassroom::php::PhpValue;
use creel_vendors::weclassroom::sign::{SignKey, sign_msg};
use creel_vendors::weclassroom::{self as wc, classify_code};
use creel_vendors::{Classification, VendorError};
use proptest::prelude::*;
use serde_json::Value;

#[tokio::test]
async fn lessons_replays_and_recordings() {
    let sim = vendor_sim::start(vendor_sim::config(1.0, None)).await;
    sim.sim.weclassroom_add_lesson(10_384_374, &[356]);
    sim.sim.weclassroom_add_lesson(10_384_375, &[]);
    let client = vendor_sim::weclassroom(&vendor_sim::account(&sim, Vendor::Weclassroom));

    let replay = client.replay_url(10_384_374).await.expect("API 24");
    assert_eq!(replay.lesson_id, 10_384_374);
    let (status, md5) = fetch_md5(&replay.mp4url).await;
    assert_eq!(status, 200);
    assert_eq!(Some(md5), sim.sim.weclassroom_replay_md5(10_384_374));

    let lessons = client
        .lesson_status(&[10_384_374, 10_384_375, 1])
        .await
        .expect("API 18");
    assert_eq!(lessons.len(), 2);
    assert!(lessons.iter().all(|l| l.status == LessonStatus::Finished));
    let video = normalize_url(lessons[0].video.as_deref().unwrap_or_default());
    assert_eq!(fetch_md5(&video).await.0, 200);

    let recordings = client
        .server_recordings(10_384_374, 356)
        .await
        .expect("API 21");
    assert_eq!(recordings.len(), 1);
    assert_eq!(fetch_md5(&recordings[0].url).await.0, 200);
    assert!(
        client
            .server_recordings(10_384_374, 999)
            .await
            .expect("API 21")
            .is_empty()
    );

    // The simulator saw typed parameters: ids as PHP ints, API 24's lessonId as a string.
    let log: Vec<_> = sim
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.vendor == "weclassroom")
        .collect();
    assert_eq!(log[0].params["lessonId"], Value::from("10384374"));
    assert_eq!(log[1].params["lesson_id"]["0"], Value::from(10_384_374));
    assert_eq!(log[2].params["user_id"], Value::from(356));
}

#[tokio::test]
async fn documented_errors_are_classified() {
    let sim = vendor_sim::start(vendor_sim::config(1.0, None)).await;
    let account = vendor_sim::account(&sim, Vendor::Weclassroom);
    let client = vendor_sim::weclassroom(&account);

    let err = client
        .call(&wc::REPLAY_URL, vec![("lessonId".into(), PhpValue::Int(1))])
        .await
        .expect_err("int where a string is documented");
    assert_eq!(
        (err.vendor_code(), err.classification()),
        (Some(40002), Classification::Permanent)
    );

    let err = client
        .call(&wc::REPLAY_URL, vec![])
        .await
        .expect_err("missing");
    assert_eq!(err.vendor_code(), Some(40001));

    let mut wrong = account.clone();
    wrong.secret = creel_core::Secret::new("0123456789abcdef0123456789abcdef");
    let err = vendor_sim::weclassroom(&wrong)
        .replay_url(1)
        .await
        .expect_err("wrong key");
    assert_eq!(
        (err.vendor_code(), err.classification()),
        (Some(20005), Classification::Permanent)
    );

    let mut stranger = account.clone();
    stranger.id = "nobody".into();
    let err = vendor_sim::weclassroom(&stranger)
        .replay_url(1)
        .await
        .expect_err("wrong app");
    assert_eq!(err.vendor_code(), Some(20003));

    let mut moved = account.clone();
    moved
        .paths
        .insert("replay_url".into(), "/lesson/replay/nowhere".into());
    let err = vendor_sim::weclassroom(&moved)
        .replay_url(1)
        .await
        .expect_err("route");
    assert_eq!(err.vendor_code(), Some(30001));

    let mut short = account.clone();
    short.secret = creel_core::Secret::new("too-short");
    let err = creel_vendors::WeclassroomClient::new(
        "wc",
        &short,
        reqwest::Client::new(),
        std::sync::Arc::new(creel_core::Unlimited),
    )
    .expect_err("31-byte keys are refused");
    assert!(
        matches!(&err, VendorError::Config { reason, .. } if reason.contains("accounts.wc.secret")),
        "{err}"
    );

    assert_eq!(classify_code(10000), Classification::Success);
    assert_eq!(classify_code(50000), Classification::Retryable);
    for code in [
        20001, 20002, 20003, 20004, 20005, 30001, 30002, 40001, 40002, 40003, 40004,
    ] {
        assert_eq!(
            classify_code(code),
            Classification::Permanent,
            "code {code}"
        );
    }
}

fn php_value() -> impl Strategy<Value = PhpValue> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(PhpValue::Int),
        ".{0,40}".prop_map(PhpValue::Str),
        any::<bool>().prop_map(PhpValue::Bool),
        Just(PhpValue::Null),
    ];
    leaf.prop_recursive(2, 16, 4, |inner| {
        prop::collection::vec(inner, 0..4).prop_map(PhpValue::list)
    })
}

/// What the simulator's unserializer should make of a value.
fn expected(v: &PhpValue) -> Value {
    match v {
        PhpValue::Null => Value::Null,
        PhpValue::Bool(b) => Value::Bool(*b),
        PhpValue::Int(i) => Value::from(*i),
        PhpValue::Str(s) => Value::from(s.clone()),
        PhpValue::Array(items) => Value::Object(
            items
                .iter()
                .map(|(k, v)| (k.clone(), expected(v)))
                .collect(),
        ),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn sign_msg_round_trips_through_an_independent_decrypt(
        params in prop::collection::vec(("[a-zA-Z_][a-zA-Z0-9_]{0,12}", php_value()), 0..6),
        iv in any::<[u8; 16]>(),
    ) {
        let mut seen = std::collections::HashSet::new();
        let params: Vec<(String, PhpValue)> = params.into_iter().filter(|(k, _)| seen.insert(k.clone())).collect();
        let key = SignKey::new(WC_SECRET).expect("key");
        let signed = sign_msg(&params, &key, iv);
        let opened = weclassroom_open(&signed.sign_msg, WC_SECRET.as_bytes()).expect("opens");
        let want = Value::Object(params.iter().map(|(k, v)| (k.clone(), expected(v))).collect());
        prop_assert_eq!(opened, want);
        let mut tampered = signed.sign_msg.into_bytes();
        let last = tampered.len() / 2;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).expect("ascii");
        prop_assert!(matches!(weclassroom_open(&tampered, WC_SECRET.as_bytes()), Err(SignMsgError::Auth(_)) | Err(SignMsgError::Params(_))));
    }
}
