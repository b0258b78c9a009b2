//! `creel demo`: creel end to end on embedded defaults. It starts a private redis-server, a
//! local HTTP server with generated sample lessons (and a webhook receiver), the vendor
//! simulator (calling back into creel's API), the API and a worker in this process; enqueues
//! through the HTTP API three plain downloads and one job of every classroom kind, each
//! delivering into the `local` profile; shows their progress; prints the completion events, the
//! webhook deliveries and where the files landed, with every MD5 checked.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, ensure};
use axum::http::StatusCode;
use creel_core::config::{ApiToken, QuotaConfig, Scope, VendorAccount};
use creel_core::{JobState, Secret};
use creel_queue::Queue;
use creel_queue::embedded::RedisServer;
use md5::{Digest, Md5};
use tokio_util::sync::CancellationToken;

use crate::samples::SampleServer;

/// The sample lessons: name and size.
const SAMPLES: &[(&str, usize)] = &[
    ("lesson-1.mp4", 24 << 20),
    ("lesson-2.mp4", 8 << 20),
    ("lesson-3.mp4", 3 << 20),
];
/// The sample server's pause between 256 KiB chunks, so progress shows.
const PAUSE: Duration = Duration::from_millis(15);

/// Runs the demo; `Ok` means every job succeeded with the right MD5 and the webhook arrived.
pub async fn run(metrics: crate::telemetry::MetricsHandle) -> anyhow::Result<()> {
    let redis = RedisServer::start().context("starting a private redis-server")?;
    say(&format!(
        "1. started a private redis-server at {}",
        redis.url()
    ));
    let hook_secret = format!("demo-{}", ulid::Ulid::new());
    let samples = SampleServer::start(SAMPLES, PAUSE, &hook_secret).await?;
    let sample_base = samples.base.clone();
    let stop = CancellationToken::new();
    say(&format!(
        "2. serving {} generated sample lessons at {sample_base}/samples/",
        SAMPLES.len()
    ));

    let api_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let api_base = format!("http://{}", api_listener.local_addr()?);
    let plaso_token = format!("demo-{}", ulid::Ulid::new());
    let DemoVendors {
        sim,
        config: sim_config,
        vod,
        merged,
    } = start_vendors(&api_base, &plaso_token).await?;

    let out_dir = std::env::temp_dir().join("creel-demo");
    let _ = std::fs::remove_dir_all(&out_dir);
    let token = format!("demo-{}-{}", ulid::Ulid::new(), ulid::Ulid::new());
    let mut config = crate::local_config::local_config(crate::local_config::LocalParts {
        redis_url: redis.url(),
        out_dir: &out_dir,
        samples_base: &sample_base,
        hook_secret: &hook_secret,
        token: ApiToken {
            name: "demo".into(),
            token: Secret::new(token.clone()),
            scopes: vec![Scope::JobsWrite, Scope::JobsRead, Scope::JobsCancel],
        },
    });
    config.worker.drain_ms = 5_000;
    config.download.allow_hosts.push("127.0.0.1".into());
    for a in &sim_config.accounts {
        let mut account = VendorAccount::new(a.vendor, &a.id, Secret::new(&a.secret));
        account.base_url = Some(sim.vendor_base(a.vendor));
        account.quota = Some(QuotaConfig::new(20, 1_000));
        if a.vendor == creel_core::config::Vendor::Plaso {
            account.plaso.callback_token = Some(Secret::new(&plaso_token));
        }
        config.accounts.insert(format!("sim-{}", a.vendor), account);
    }
    // Vendor time runs 1000x here: poll often, and accept callbacks stamped in vendor time.
    config.classroom.default_poll.first_ms = 200;
    config.classroom.default_poll.max_ms = 2_000;
    config.classroom.callback_max_age_secs = 365 * 24 * 3600;
    config.worker.default_retry.base_delay = Duration::from_millis(300);
    let config = Arc::new(config);
    let queue = Queue::connect(crate::settings::queue_config(&config)).await?;

    let bjy_account = config
        .accounts
        .get("sim-baijiayun")
        .context("the demo's Baijiayun account")?;
    let limiter: Arc<dyn creel_core::CallLimiter> = Arc::new(creel_core::Unlimited);
    creel_vendors::BaijiayunClient::new("sim-baijiayun", bjy_account, http_client(), limiter)?
        .set_transcode_callback_url(&format!("{api_base}/callbacks/baijiayun/sim-baijiayun"))
        .await
        .context("setting Baijiayun's transcode callback URL")?;
    let api = tokio::spawn(crate::api::serve(
        Arc::clone(&config),
        queue.clone(),
        api_listener,
        metrics,
        stop.clone(),
    ));
    let worker = tokio::spawn(crate::worker::run(
        Arc::clone(&config),
        queue.clone(),
        stop.clone(),
    ));
    say(&format!(
        "3. API at {api_base}, one worker (concurrency 4), storage profile `local` = {}; \
         metrics as Prometheus text at {api_base}/metrics (and over OTLP when \
         OTEL_EXPORTER_OTLP_ENDPOINT is set)",
        out_dir.display()
    ));

    let http = reqwest::Client::new();
    let jobs = enqueue_jobs(&http, &api_base, &token, &samples, (vod, merged)).await?;
    follow(&http, &api_base, &token, &jobs.all).await?;

    let all_good = report(&queue, &sim, &samples, &jobs).await?;
    stop.cancel();
    api.await??;
    worker.await??;
    drop(sim);
    drop(redis);
    ensure!(all_good, "the demo did not end as expected");
    say("done: every job succeeded and every file matches its MD5.");
    Ok(())
}

/// The vendor simulator with the demo's data, and what the jobs name: its config (for the
/// accounts), the VOD video and the merged playback.
struct DemoVendors {
    sim: creel_sim::RunningSim,
    config: creel_sim::SimConfig,
    vod: i64,
    merged: i64,
}

/// Starts the simulator calling back into `api_base`, with a quota of 20 calls per second on
/// both sides so the limiter's cold-start window (one window) is short.
async fn start_vendors(api_base: &str, plaso_token: &str) -> anyhow::Result<DemoVendors> {
    let mut sim_config = creel_sim::demo_config();
    for a in &mut sim_config.accounts {
        a.quota = Some(QuotaConfig::new(20, 1_000));
        if a.vendor == creel_core::config::Vendor::Plaso {
            a.callback_url = Some(format!("{api_base}/callbacks/plaso/{plaso_token}"));
        }
    }
    let sim = creel_sim::Simulator::new(sim_config.clone())
        .serve("127.0.0.1:0".parse()?)
        .await
        .context("starting the vendor simulator")?;
    let vod = sim
        .sim
        .baijiayun_add_vod("12345", creel_sim::baijiayun::TaskOutcome::Success);
    sim.sim.weclassroom_add_lesson(20_001, &[]);
    sim.sim
        .plaso_add_record("demo-record", creel_sim::plaso::PlasoOutcome::Success);
    sim.sim.baijiayun_add_playback(
        "12345",
        30_001,
        0,
        creel_sim::baijiayun::ClassType::LargeClass,
        None,
    );
    let merged = sim.sim.baijiayun_add_merged_playback("12345");
    say(&format!(
        "   and the vendor simulator (Plaso, Baijiayun, WeClassroom at 1000x) at {}: Plaso record demo-record, Baijiayun room 30001, VOD video {vod}, merged playback {merged}, WeClassroom lesson 20001",
        sim.base
    ));

    Ok(DemoVendors {
        sim,
        config: sim_config,
        vod,
        merged,
    })
}

/// The demo's jobs, by label and id: every download, then every classroom job.
struct Enqueued {
    all: Vec<(String, String)>,
    classroom: Vec<(&'static str, String)>,
}

/// Enqueues, through the API, the three downloads (the first with a webhook) and one job of
/// every classroom kind, then shows a request the API refuses.
async fn enqueue_jobs(
    http: &reqwest::Client,
    api_base: &str,
    token: &str,
    samples: &SampleServer,
    vendors: (i64, i64),
) -> anyhow::Result<Enqueued> {
    let (vod, merged) = vendors;
    let md5s = &samples.md5;
    let mut ids = Vec::new();
    for (i, (name, _)) in SAMPLES.iter().enumerate() {
        let mut payload = serde_json::json!({
            "url": samples.url(name),
            "profile": "local",
            "key": format!("lessons/{{date}}/{name}"),
            "expected_md5": md5s[*name],
        });
        if i == 0 {
            payload["expected_length"] = serde_json::json!(SAMPLES[0].1);
        }
        let mut body = serde_json::json!({ "kind": "download", "payload": payload });
        if i == 0 {
            body["webhook"] = serde_json::json!(samples.hook_url());
        }
        let id = enqueue(http, api_base, token, &body, &format!("demo-{name}")).await?;
        say(&format!(
            "4. POST /v1/jobs  download {name} -> 201, job {id}"
        ));
        ids.push((name.to_string(), id));
    }
    let deliver =
        serde_json::json!({"profile": "local", "key": "{kind}/{date}/{parent}-{index}.mp4"});
    let classroom_jobs = [
        (
            "plaso.export",
            "sim-plaso",
            serde_json::json!({"record_id": "demo-record", "file_name": "第1课-回放", "convert_mode": "avatar_whiteboard", "resolution": "1080P"}),
        ),
        (
            "baijiayun.crop",
            "sim-baijiayun",
            serde_json::json!({"room_id": 30_001, "segments": [
            {"start_time": 0, "end_time": 300, "name": "part 1"}, {"start_time": 300, "end_time": 600, "name": "part 2"}]}),
        ),
        (
            "baijiayun.pure_video",
            "sim-baijiayun",
            serde_json::json!({"mixed_playback_id": merged}),
        ),
        (
            "baijiayun.vod",
            "sim-baijiayun",
            serde_json::json!({"video_id": vod}),
        ),
        (
            "weclassroom.replay",
            "sim-weclassroom",
            serde_json::json!({"lesson_id": 20_001}),
        ),
    ];
    let mut classroom_ids = Vec::new();
    for (kind, account, mut payload) in classroom_jobs {
        payload["deliver"] = deliver.clone();
        let body = serde_json::json!({"kind": kind, "account": account, "payload": payload});
        let id = enqueue(http, api_base, token, &body, &format!("demo-{kind}")).await?;
        say(&format!(
            "4. POST /v1/jobs  {kind} via {account} -> 201, job {id}"
        ));
        ids.push((kind.to_owned(), id.clone()));
        classroom_ids.push((kind, id));
    }
    let bad = http
        .post(format!("{api_base}/v1/jobs"))
        .bearer_auth(token)
        .json(&serde_json::json!({"kind": "download", "payload": {"url": "ftp://example.com/x", "profile": "local"}}))
        .send()
        .await?;
    say(&format!(
        "   POST /v1/jobs  with an ftp:// URL -> {} {}",
        bad.status().as_u16(),
        bad.text().await?
    ));

    Ok(Enqueued {
        all: ids,
        classroom: classroom_ids,
    })
}

/// Prints the events, the verified webhooks and where every file landed, checking each MD5
/// against the vendor's (or the sample's); `true` when everything is as expected.
async fn report(
    queue: &Queue,
    sim: &creel_sim::RunningSim,
    samples: &SampleServer,
    jobs: &Enqueued,
) -> anyhow::Result<bool> {
    let (ids, classroom_ids, md5s) = (&jobs.all, &jobs.classroom, &samples.md5);
    let verified = |s: &SampleServer| s.hooks().iter().filter(|h| h.signature_ok).count();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while verified(samples) == 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    say("6. completion events on the queues' event streams (creel:q:{<queue>}:events):");
    for e in queue.events_of_every_queue(100).await? {
        say(&format!(
            "   {} {} {}",
            e.event.event_type.as_str(),
            e.event.subject,
            e.event
                .data
                .result
                .map(|r| r.to_string())
                .unwrap_or_default()
        ));
    }
    say(&format!(
        "7. signed webhook deliveries verified by the receiver: {}",
        verified(samples)
    ));
    say("8. where the files landed:");
    let mut all_good = verified(samples) == 1;
    for (kind, id) in classroom_ids {
        let rec = queue.get(&id.parse()?).await?.context("job vanished")?;
        let stored = rec
            .result
            .as_ref()
            .and_then(|r| r["stored"].as_array().cloned())
            .unwrap_or_default();
        all_good &= rec.state == JobState::Succeeded && !stored.is_empty();
        for (i, object) in stored.iter().enumerate() {
            let location = object["location"].as_str().unwrap_or("-");
            let on_disk = std::fs::read(location)
                .map(|b| hex::encode(Md5::digest(&b)))
                .unwrap_or_default();
            let vendor_md5 = vendor_file_md5(sim, &rec, i);
            let ok = vendor_md5.as_deref() == Some(on_disk.as_str());
            all_good &= ok;
            say(&format!(
                "   {location}  md5 {on_disk} {} ({kind})",
                if ok {
                    "(matches the vendor's file)"
                } else {
                    "(MISMATCH)"
                }
            ));
        }
    }
    for (name, id) in ids.iter().filter(|(n, _)| md5s.contains_key(n)) {
        let rec = queue.get(&id.parse()?).await?.context("job vanished")?;
        let location = rec
            .result
            .as_ref()
            .and_then(|r| r["location"].as_str())
            .unwrap_or("-")
            .to_owned();
        let on_disk = std::fs::read(&location)
            .map(|b| hex::encode(Md5::digest(&b)))
            .unwrap_or_default();
        let ok = rec.state == JobState::Succeeded && on_disk == md5s[name];
        all_good &= ok;
        say(&format!(
            "   {location}  md5 {on_disk} {}",
            if ok { "(matches)" } else { "(MISMATCH)" }
        ));
    }
    Ok(all_good)
}

fn http_client() -> reqwest::Client {
    reqwest::Client::new()
}

/// The MD5 of the vendor's own file behind output `i` of a classroom job, from the simulator.
/// (The output's URL in the result has its signed query redacted, so it is not fetched.)
fn vendor_file_md5(
    sim: &creel_sim::RunningSim,
    rec: &creel_queue::JobRecord,
    i: usize,
) -> Option<String> {
    let output = rec.result.as_ref()?["outputs"].get(i)?.clone();
    if let Some(video) = output["video_id"].as_i64() {
        return sim.sim.baijiayun_video_md5(video);
    }
    if let Some(lesson) = output["lesson_id"].as_i64() {
        return sim.sim.weclassroom_replay_md5(lesson);
    }
    let url = output["video_url"].as_str().or(output["url"].as_str())?;
    sim.sim.file_md5_of_url(url)
}

/// Enqueues `body` through `POST /v1/jobs` with an idempotency key; the new job's id.
async fn enqueue(
    http: &reqwest::Client,
    api: &str,
    token: &str,
    body: &serde_json::Value,
    idempotency_key: &str,
) -> anyhow::Result<String> {
    let res = http
        .post(format!("{api}/v1/jobs"))
        .bearer_auth(token)
        .header("Idempotency-Key", idempotency_key)
        .json(body)
        .send()
        .await?;
    ensure!(
        res.status() == StatusCode::CREATED,
        "enqueue answered {}",
        res.status()
    );
    let rec: serde_json::Value = res.json().await?;
    Ok(rec["id"].as_str().context("no id")?.to_owned())
}

/// Polls each job through the API, with a progress bar per job, until all have ended.
async fn follow(
    http: &reqwest::Client,
    api: &str,
    token: &str,
    ids: &[(String, String)],
) -> anyhow::Result<()> {
    let bars = indicatif::MultiProgress::new();
    let style = indicatif::ProgressStyle::with_template(
        "   {msg:32} [{bar:30}] {bytes:>9}/{total_bytes:9}",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    let progress: Vec<_> = ids
        .iter()
        .map(|(name, _)| {
            let b = bars.add(indicatif::ProgressBar::new(0));
            b.set_style(style.clone());
            b.set_message(name.clone());
            b
        })
        .collect();
    say("5. following the jobs through GET /v1/jobs/{id}:");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let mut open = 0;
        for ((name, id), bar) in ids.iter().zip(&progress) {
            let rec: serde_json::Value = http
                .get(format!("{api}/v1/jobs/{id}"))
                .bearer_auth(token)
                .send()
                .await?
                .json()
                .await?;
            let state = rec["state"].as_str().unwrap_or("?").to_owned();
            if let Some(t) = rec["progress"]["total"].as_u64() {
                bar.set_length(t);
            }
            bar.set_position(rec["progress"]["bytes"].as_u64().unwrap_or(0));
            bar.set_message(format!("{name} {state}"));
            if matches!(state.as_str(), "succeeded" | "failed" | "cancelled") {
                if !bar.is_finished() {
                    bar.finish();
                    if bars.is_hidden() {
                        say(&format!("   {name}: {state}"));
                    }
                }
            } else {
                open += 1;
            }
        }
        if open == 0 {
            return Ok(());
        }
        ensure!(
            tokio::time::Instant::now() < deadline,
            "jobs did not finish within 2 minutes"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[allow(clippy::print_stdout)]
fn say(line: &str) {
    println!("{line}");
}
