//! Plaso: export tasks through their documented statuses, 22001 instead of a second billed
//! submission, 22003, option validation before sending, signatures, the result callback.

use std::time::Duration;

use creel_core::config::{RequestEncoding, Vendor};
use creel_sim::plaso::PlasoOutcome;
use creel_tests::vendor_sim::{self, CallbackReceiver, eventually};

use creel_vendors::plaso::model::{ConvertMode, Resolution, TaskStatus, TransferVideo};
use creel_vendors::plaso::{self as plaso_api, CODE_NO_CLASSROOM, CODE_TASK_RUNNING};
use creel_vendors::{Classification, VendorError};

fn request(record: &str) -> TransferVideo {
    TransferVideo {
        file_name: "第1课-回放".into(),
        record_id: record.into(),
        convert_mode: Some(ConvertMode::AvatarWhiteboard),
        resolution: Some(Resolution::P1080),
        video_bitrate: Some(2000),
        audio_bitrate: Some(128),
        frame_rate: Some(30),
    }
}

#[tokio::test]
async fn an_export_walks_the_documented_statuses_and_calls_back() {
    let receiver = CallbackReceiver::start(0).await;
    let sim = vendor_sim::start(vendor_sim::config(600.0, Some(&receiver.url))).await;
    sim.sim.plaso_add_record("rec-1", PlasoOutcome::Success);
    let client = vendor_sim::plaso(&vendor_sim::account(&sim, Vendor::Plaso));

    let task = client
        .transfer_video(&request("rec-1"))
        .await
        .expect("submitted");
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let done = loop {
        let t = client.get_video_task(&task.task_id).await.expect("polled");
        if seen.last() != Some(&t.status) {
            seen.push(t.status);
        }
        if t.status == TaskStatus::Done {
            break t;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no 99 within 10 s: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let order = [0, 1, 2, 3, 99];
    let codes: Vec<i64> = seen.iter().map(|s| s.code()).collect();
    assert!(
        codes
            .windows(2)
            .all(|w| order.iter().position(|c| *c == w[0]) < order.iter().position(|c| *c == w[1])),
        "statuses must follow 0→1→2→3→99, saw {codes:?}"
    );
    assert!(
        codes.len() >= 3,
        "polling every 10 ms must see intermediate statuses: {codes:?}"
    );
    let url = done.video_url.expect("videoUrl on 99");
    assert_eq!(vendor_sim::fetch_md5(&url).await.0, 200);

    let got = receiver.wait_for(1, Duration::from_secs(5)).await;
    let cb = plaso_api::callback::parse(&got[0].body).expect("callback parses");
    assert_eq!(cb.task_id, task.task_id);
    assert_eq!(cb.status, TaskStatus::Done);
    assert_eq!(cb.location.as_deref(), Some(url.as_str()));
    assert_eq!(sim.sim.plaso_submissions()["rec-1"], 1);
}

#[tokio::test]
async fn a_second_submission_while_running_is_22001_and_not_billed() {
    let sim = vendor_sim::start(vendor_sim::config(1.0, None)).await;
    sim.sim.plaso_add_record("rec-2", PlasoOutcome::Success);
    let client = vendor_sim::plaso(&vendor_sim::account(&sim, Vendor::Plaso));
    client
        .transfer_video(&request("rec-2"))
        .await
        .expect("first");
    let err = client
        .transfer_video(&request("rec-2"))
        .await
        .expect_err("second");
    assert_eq!(err.vendor_code(), Some(CODE_TASK_RUNNING));
    assert_eq!(err.classification(), Classification::Permanent);
    assert_eq!(
        sim.sim.plaso_submissions()["rec-2"],
        1,
        "22001 must not bill"
    );

    let err = client
        .transfer_video(&request("no-such-record"))
        .await
        .expect_err("unknown");
    assert_eq!(err.vendor_code(), Some(CODE_NO_CLASSROOM));
    assert_eq!(err.classification(), Classification::Permanent);
}

#[tokio::test]
async fn failures_end_in_their_documented_statuses() {
    // No receiver acknowledges: the callback is retried 5 times a minute apart (vendor time),
    // then the task ends in −3, which is not a failure.
    let sim = vendor_sim::start(vendor_sim::config(
        2000.0,
        Some("http://127.0.0.1:9/nobody"),
    ))
    .await;
    for (record, outcome) in [
        ("t-fail", PlasoOutcome::TranscodeFailed),
        ("u-fail", PlasoOutcome::UploadFailed),
        ("cb-fail", PlasoOutcome::CallbackFailed),
    ] {
        sim.sim.plaso_add_record(record, outcome);
    }
    let client = vendor_sim::plaso(&vendor_sim::account(&sim, Vendor::Plaso));
    for (record, want) in [
        ("t-fail", TaskStatus::TranscodeFailed),
        ("u-fail", TaskStatus::UploadFailed),
        ("cb-fail", TaskStatus::CallbackFailed),
    ] {
        let task = client
            .transfer_video(&request(record))
            .await
            .expect("submitted");
        let status = eventually(record, Duration::from_secs(10), || async {
            let s = client
                .get_video_task(&task.task_id)
                .await
                .expect("polled")
                .status;
            (s.code() < 0).then_some(s)
        })
        .await;
        assert_eq!(status, want, "{record}");
        assert_eq!(status.is_failure(), want != TaskStatus::CallbackFailed);
    }
}

#[tokio::test]
async fn bad_options_are_refused_before_anything_is_sent() {
    let sim = vendor_sim::start(vendor_sim::config(1.0, None)).await;
    let client = vendor_sim::plaso(&vendor_sim::account(&sim, Vendor::Plaso));
    let mut r = request("rec");
    r.video_bitrate = Some(9000);
    let err = client.transfer_video(&r).await.expect_err("9000 kbps");
    assert!(
        matches!(&err, VendorError::InvalidRequest { field, .. } if field == "video_bitrate"),
        "{err}"
    );
    assert!(
        sim.sim.requests().is_empty(),
        "nothing may reach the vendor"
    );
}

#[tokio::test]
async fn every_encoding_is_signed_and_a_wrong_secret_is_refused() {
    let sim = vendor_sim::start(vendor_sim::config(1.0, None)).await;
    sim.sim.plaso_add_record("rec-e", PlasoOutcome::Success);
    for encoding in [
        RequestEncoding::Form,
        RequestEncoding::Query,
        RequestEncoding::Json,
    ] {
        let mut account = vendor_sim::account(&sim, Vendor::Plaso);
        account.plaso.encoding = Some(encoding);
        let client = vendor_sim::plaso(&account);
        let err = client
            .get_video_task("no-such-task")
            .await
            .expect_err("unknown task");
        assert!(
            matches!(err, VendorError::Vendor { code: 1, .. }),
            "{encoding:?}: {err}"
        );
    }
    let mut account = vendor_sim::account(&sim, Vendor::Plaso);
    account.secret = creel_core::Secret::new("wrong-secret");
    let err = vendor_sim::plaso(&account)
        .get_video_task("x")
        .await
        .expect_err("bad sign");
    assert!(
        matches!(err, VendorError::Http { status: 403, .. }),
        "{err}"
    );
    assert_eq!(err.classification(), Classification::Permanent);
    let outcomes: Vec<String> = sim.sim.requests().into_iter().map(|r| r.outcome).collect();
    assert_eq!(outcomes, ["1", "1", "1", "bad_sign"]);
}

#[test]
fn plaso_codes_have_their_class() {
    assert_eq!(plaso_api::classify_code(0), Classification::Success);
    for code in [CODE_TASK_RUNNING, CODE_NO_CLASSROOM, 1, 403] {
        assert_eq!(
            plaso_api::classify_code(code),
            Classification::Permanent,
            "code {code}"
        );
    }
}
