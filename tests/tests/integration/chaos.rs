//! Chaos: jobs of every classroom kind, each delivering into a real S3 server, while worker
//! processes are killed with SIGKILL at random moments and restarted, dozens of times. At the
//! end every job has exactly one terminal event, the simulator billed every vendor task once,
//! no upload part was sent twice and no vendor quota window was exceeded.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use creel_core::config::{QuotaConfig, Vendor};
use creel_core::{JobRequest, JobState};
use creel_queue::Queue;
use creel_queue::embedded::RedisServer;
use creel_sim::baijiayun::{ClassType, TaskOutcome};
use creel_sim::plaso::PlasoOutcome;
use creel_tests::s3_server::{ACCESS_KEY, S3Server, SECRET_KEY};
use creel_tests::vendor_sim::{
    self, BJY_KEY, BJY_PARTNER, PLASO_APP, PLASO_SECRET, WC_APP, WC_SECRET,
};
use creel_tests::worker_processes::{WorkerProcesses, config_head};
use serde_json::json;
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "chaos-plaso-callback-token-0001";
const QUOTA: (u32, u64) = (40, 1_000);
const KILLS: usize = 30;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_survive_dozens_of_sigkills_without_paying_or_uploading_twice() {
    let redis = RedisServer::start().expect("redis");
    let s3 = S3Server::start("archive").await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let api = format!("http://{}", listener.local_addr().expect("addr"));
    let mut sim_config = vendor_sim::config(600.0, None);
    sim_config.video_bytes = 7 << 20; // two 5 MiB parts each
    for a in &mut sim_config.accounts {
        a.quota = Some(QuotaConfig::new(QUOTA.0, QUOTA.1));
        if a.vendor == Vendor::Plaso {
            a.callback_url = Some(format!("{api}/callbacks/plaso/{TOKEN}"));
        }
    }
    let sim = vendor_sim::start(sim_config).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config_file = dir.path().join("creel.toml");
    let quota = format!(
        "quota = {{ requests = {}, window_ms = {} }}",
        QUOTA.0, QUOTA.1
    );
    std::fs::write(
        &config_file,
        format!(
            r#"{head}[download]
allow_hosts = ["127.0.0.1"]
[classroom]
callback_max_age_secs = 31536000
[classroom.default_poll]
first_ms = 100
max_ms = 800
[storage.archive]
type = "s3"
bucket = "archive"
region = "us-east-1"
endpoint = "{s3}"
path_style = true
access_key_id = "{ACCESS_KEY}"
secret_access_key = "{SECRET_KEY}"
part_size_mib = 5
parts_in_flight = 2
[accounts.plaso]
vendor = "plaso"
id = "{PLASO_APP}"
secret = "{PLASO_SECRET}"
base_url = "{plaso}"
callback_token = "{TOKEN}"
{quota}
[accounts.bjy]
vendor = "baijiayun"
id = "{BJY_PARTNER}"
secret = "{BJY_KEY}"
base_url = "{bjy}"
{quota}
[accounts.wc]
vendor = "weclassroom"
id = "{WC_APP}"
secret = "{WC_SECRET}"
base_url = "{wc}"
{quota}
"#,
            head = config_head(&redis.url(), 6),
            s3 = s3.endpoint,
            plaso = sim.vendor_base(Vendor::Plaso),
            bjy = sim.vendor_base(Vendor::Baijiayun),
            wc = sim.vendor_base(Vendor::Weclassroom),
        ),
    )
    .expect("config");
    let config = Arc::new(creel::settings::load(Some(&config_file)).expect("config loads"));
    let queue = Queue::connect(creel::settings::queue_config(&config))
        .await
        .expect("queue");
    let stop = CancellationToken::new();
    let api_task = tokio::spawn(creel::api::serve(
        Arc::clone(&config),
        queue.clone(),
        listener,
        creel::telemetry::MetricsHandle::default(),
        stop.clone(),
    ));
    vendor_sim::baijiayun(&config.accounts["bjy"])
        .set_transcode_callback_url(&format!("{api}/callbacks/baijiayun/bjy"))
        .await
        .expect("callback URL");

    // The vendor side: records, videos, playbacks, lessons.
    let deliver = json!({"profile": "archive", "key": "{kind}/{parent}-{index}.mp4"});
    let mut requests = Vec::new();
    for i in 0..5 {
        let record = format!("chaos-record-{i}");
        sim.sim.plaso_add_record(&record, PlasoOutcome::Success);
        requests.push((
            "plaso.export",
            "plaso",
            json!({"record_id": record, "file_name": format!("lesson {i}")}),
        ));
        let vod = sim.sim.baijiayun_add_vod(BJY_PARTNER, TaskOutcome::Success);
        requests.push(("baijiayun.vod", "bjy", json!({"video_id": vod})));
        sim.sim.weclassroom_add_lesson(8000 + i, &[]);
        requests.push(("weclassroom.replay", "wc", json!({"lesson_id": 8000 + i})));
    }
    for i in 0..3 {
        let crop_room = 9100 + i;
        sim.sim
            .baijiayun_add_playback(BJY_PARTNER, crop_room, 0, ClassType::LargeClass, None);
        requests.push(("baijiayun.crop", "bjy", json!({"room_id": crop_room, "segments": [
            {"start_time": 0, "end_time": 200, "name": "a"}, {"start_time": 200, "end_time": 500, "name": "b"}]})));
        let pure_room = 9200 + i;
        sim.sim
            .baijiayun_add_playback(BJY_PARTNER, pure_room, 0, ClassType::LargeClass, None);
        requests.push(("baijiayun.pure_video", "bjy", json!({"room_id": pure_room})));
    }
    let mut parents = Vec::new();
    for (kind, account, mut payload) in requests {
        payload["deliver"] = deliver.clone();
        let mut r = JobRequest::new(kind, payload);
        r.account = Some(account.into());
        parents.push(queue.enqueue(r).await.expect("enqueue").id);
    }

    let mut workers =
        WorkerProcesses::new(Path::new(env!("CARGO_BIN_EXE_creel-worker")), &config_file);
    workers.spawn();
    workers.spawn();
    let mut kills = 0;
    let deadline = Instant::now() + Duration::from_secs(240);
    let all_ended = |recs: &[creel_queue::JobRecord]| recs.iter().all(|r| r.state.is_terminal());
    loop {
        let pause = Duration::from_millis(150 + fastrand::u64(0..450));
        tokio::time::sleep(pause).await;
        let mut recs = Vec::new();
        for id in &parents {
            recs.push(queue.get(id).await.expect("get").expect("job"));
        }
        if all_ended(&recs) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not all jobs ended: {:?}\nworker log:\n{}",
            recs.iter()
                .map(|r| (&r.kind, r.state, &r.last_error))
                .collect::<Vec<_>>(),
            workers.log()
        );
        if kills < KILLS {
            workers.kill_one(fastrand::usize(..));
            workers.spawn();
            kills += 1;
        }
    }
    // The children of the last parents may still be running: let them end.
    let mut all = Vec::new();
    for id in &parents {
        let rec = queue.get(id).await.expect("get").expect("job");
        assert_eq!(
            rec.state,
            JobState::Succeeded,
            "{} {:?}: {:?}",
            rec.kind,
            rec.id,
            rec.last_error
        );
        for child in rec.result.as_ref().expect("result")["stored"]
            .as_array()
            .expect("stored")
        {
            all.push(
                child["job_id"]
                    .as_str()
                    .expect("child id")
                    .parse()
                    .expect("id"),
            );
        }
        all.push(rec.id.clone());
    }
    drop(workers);
    assert!(
        kills >= 24,
        "only {kills} kills before the jobs ended; make the run longer"
    );

    // Exactly one terminal event per job, parents and children alike.
    let mut terminal: HashMap<String, usize> = HashMap::new();
    for e in queue
        .events_of_every_queue(1_000_000)
        .await
        .expect("events")
    {
        *terminal.entry(e.event.subject.clone()).or_default() += 1;
    }
    for id in &all {
        assert_eq!(
            terminal.get(id.as_str()),
            Some(&1),
            "job {id}: terminal events"
        );
    }

    // No vendor task billed twice.
    for (record, n) in sim.sim.plaso_submissions() {
        assert_eq!(n, 1, "Plaso record {record} submitted {n} times");
    }
    for (task, n) in sim.sim.baijiayun_submissions() {
        assert_eq!(n, 1, "Baijiayun {task} submitted {n} times");
    }

    // No upload part sent twice: per upload, each part number once.
    let mut parts: BTreeMap<(String, String), usize> = BTreeMap::new();
    for r in s3.requests().iter().filter(|r| r.is_upload_part()) {
        let q = |k: &str| {
            r.target
                .split(&format!("{k}="))
                .nth(1)
                .and_then(|v| v.split('&').next())
                .unwrap_or_default()
                .to_owned()
        };
        *parts.entry((q("uploadId"), q("partNumber"))).or_default() += 1;
    }
    let twice: Vec<_> = parts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "parts sent more than once: {twice:?}");

    // No quota window exceeded at the vendor.
    for (vendor, id) in [
        (Vendor::Plaso, PLASO_APP),
        (Vendor::Baijiayun, BJY_PARTNER),
        (Vendor::Weclassroom, WC_APP),
    ] {
        let max = sim.sim.window_max(vendor, id, QUOTA.1);
        assert!(
            max <= QUOTA.0 as usize,
            "{vendor}: {max} calls in one window"
        );
    }
    eprintln!(
        "chaos: {} jobs ({} parents), {kills} SIGKILLs",
        all.len(),
        parents.len()
    );
    stop.cancel();
    let _ = api_task.await;
}
