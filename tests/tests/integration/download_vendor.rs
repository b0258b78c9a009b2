//! `download` with a vendor reference as its source: the worker asks the simulated vendor for a
//! fresh URL right before the attempt (through the cluster limiter), checks the vendor's MD5,
//! and when the URL is refused (403) asks once more and carries on.

use std::time::Duration;

use creel_core::JobState;
use creel_core::config::{QuotaConfig, Vendor};
use creel_sim::baijiayun::TaskOutcome;
use creel_sim::{Fault, FaultKind};
use creel_tests::probe::wait_for_state;
use creel_tests::stack::Stack;
use creel_tests::vendor_sim::{self, BJY_PARTNER};
use md5::{Digest, Md5};
use serde_json::json;

async fn job_id(res: reqwest::Response) -> creel_core::JobId {
    assert_eq!(res.status(), 201);
    res.json::<serde_json::Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("job id")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vod_reference_is_resolved_checked_and_refreshed_when_refused() {
    let sim = vendor_sim::start(vendor_sim::config(600.0, None)).await;
    let video = sim.sim.baijiayun_add_vod(BJY_PARTNER, TaskOutcome::Success);
    let mut account = vendor_sim::account(&sim, Vendor::Baijiayun);
    // A small window so the limiter's cold start (one window) does not slow the test.
    account.quota = Some(QuotaConfig::new(50, 500));
    let mut stack = Stack::start_with(|cfg| {
        cfg.download.allow_hosts.push("127.0.0.1".into());
        cfg.accounts.insert("bjy".into(), account);
    })
    .await;
    stack.start_worker();

    let refused = stack
        .post_job(&json!({"kind": "download", "account": "bjy", "payload": {
            "source": {"type": "baijiayun_vod", "video_id": video}, "url": "https://x/y.mp4", "profile": "local"}}))
        .await;
    assert_eq!(refused.status(), 422, "url and source together are refused");

    // The VOD video transcodes in 120 ms at 600x; until then getUrl answers code 1 and the
    // attempt is retried.
    sim.sim.inject(Fault {
        vendor: "files".into(),
        endpoint: "*".into(),
        kind: FaultKind::Status { status: 403 },
        count: 1,
    });
    let id = job_id(
        stack
            .post_job(&json!({"kind": "download", "account": "bjy", "payload": {
                "source": {"type": "baijiayun_vod", "video_id": video}, "profile": "local", "key": "vod/{job_id}.mp4"}}))
            .await,
    )
    .await;
    let rec = wait_for_state(
        &stack.queue,
        &id,
        JobState::Succeeded,
        Duration::from_secs(60),
    )
    .await;
    let result = rec.result.expect("result");
    let md5 = sim.sim.baijiayun_video_md5(video).expect("md5");
    assert_eq!(
        result["md5"],
        md5.as_str(),
        "the vendor's file_md5 matches what was stored"
    );
    let stored =
        std::fs::read(stack.out.path().join(format!("vod/{id}.mp4"))).expect("stored file");
    assert_eq!(hex::encode(Md5::digest(&stored)), md5);

    let log = sim.sim.requests();
    let file_gets: Vec<&str> = log
        .iter()
        .filter(|r| r.vendor == "files")
        .map(|r| r.outcome.as_str())
        .collect();
    assert_eq!(
        file_gets,
        ["fault", "ok"],
        "a refused URL is refreshed once, then downloaded"
    );
    let get_urls = log
        .iter()
        .filter(|r| r.path.ends_with("/getUrl") && r.outcome == "ok")
        .count();
    assert_eq!(
        get_urls, 2,
        "a fresh URL before the attempt and one after the 403"
    );
    stack.stop().await;
}
