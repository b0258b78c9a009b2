//! Webhook deliveries are queued jobs of the internal kind `webhook`: a dead endpoint holds up
//! no other job's delivery, deliveries to one endpoint are bounded per worker, a delivery that
//! keeps failing ends `failed` after its retry policy's attempts and says so on the job it was
//! for, and callers cannot enqueue the kind themselves.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use creel_core::{JobId, JobState, RetryPolicy};
use creel_tests::probe::wait_for_state;
use creel_tests::stack::Stack;
use creel_tests::vendor_sim::eventually;
use serde_json::json;
use tokio::io::AsyncReadExt;

/// An endpoint that accepts connections and never answers, counting how many it holds at once.
struct DeadEndpoint {
    url: String,
    most_at_once: Arc<AtomicUsize>,
    accepted: Arc<AtomicUsize>,
}

impl DeadEndpoint {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/dead/", listener.local_addr().expect("addr"));
        let open = Arc::new(AtomicUsize::new(0));
        let most_at_once = Arc::new(AtomicUsize::new(0));
        let accepted = Arc::new(AtomicUsize::new(0));
        let (o, m, a) = (open, Arc::clone(&most_at_once), Arc::clone(&accepted));
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                a.fetch_add(1, Ordering::SeqCst);
                let now = o.fetch_add(1, Ordering::SeqCst) + 1;
                m.fetch_max(now, Ordering::SeqCst);
                let o = Arc::clone(&o);
                tokio::spawn(async move {
                    // Read (and ignore) until the client gives up and closes.
                    let mut buf = [0_u8; 4096];
                    while socket.read(&mut buf).await.is_ok_and(|n| n > 0) {}
                    o.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Self {
            url,
            most_at_once,
            accepted,
        }
    }
}

fn id_of(v: &serde_json::Value) -> JobId {
    v["id"].as_str().expect("an id").parse().expect("a job id")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_endpoint_holds_up_no_other_delivery() {
    let dead = DeadEndpoint::start().await;
    let dead_url = dead.url.clone();
    let mut stack = Stack::start_with(|cfg| {
        cfg.download.allow_hosts.push("127.0.0.1".into());
        cfg.events.webhook.allow.push(dead_url.clone());
        cfg.events.webhook.timeout_ms = 1_500;
        cfg.events.webhook.per_endpoint_concurrency = 1;
        cfg.retry.insert(
            "webhook".into(),
            RetryPolicy {
                max_attempts: 2,
                base_delay: Duration::from_millis(100),
                max_delay: Duration::from_millis(200),
                ..RetryPolicy::default()
            },
        );
    })
    .await;

    // Callers cannot enqueue a delivery themselves.
    let res = stack
        .post_job(&json!({"kind": "webhook", "payload": {}}))
        .await;
    assert_eq!(res.status(), 422);
    let problem: serde_json::Value = res.json().await.expect("problem");
    assert_eq!(problem["field"], "kind", "{problem}");

    stack.start_worker();
    let mut stuck = Vec::new();
    for n in 0..3 {
        let mut body = stack.download("small.mp4");
        body["webhook"] = json!(format!("{}{n}", dead.url));
        stuck.push(id_of(
            &stack.post_job(&body).await.json().await.expect("json"),
        ));
    }
    for id in &stuck {
        wait_for_state(
            &stack.queue,
            id,
            JobState::Succeeded,
            Duration::from_secs(20),
        )
        .await;
    }
    let mut body = stack.download("small.mp4");
    body["webhook"] = json!(stack.samples.hook_url());
    let good = id_of(&stack.post_job(&body).await.json().await.expect("json"));
    eventually(
        "the good endpoint's webhook",
        Duration::from_secs(15),
        || async {
            stack
                .samples
                .hooks()
                .into_iter()
                .find(|h| h.body["data"]["job_id"] == good.to_string())
        },
    )
    .await;
    // Three deliveries of two 1.5 s attempts each, one at a time, take at least 9 s: the good
    // webhook arrived while they were still being tried.
    let mut unfinished = 0;
    for id in &stuck {
        let rec = stack.queue.get(id).await.expect("redis").expect("job");
        if rec
            .webhook_delivery
            .as_ref()
            .is_none_or(|d| d["status"] != "failed")
        {
            unfinished += 1;
        }
    }
    assert!(
        unfinished > 0,
        "every dead delivery had ended before the good one arrived"
    );

    // Each delivery is a job the owner can see; the dead ones end failed after their two
    // attempts and say so on the job they were for.
    for id in &stuck {
        let rec = eventually("a failed delivery", Duration::from_secs(30), || async {
            let rec = stack.queue.get(id).await.expect("redis").expect("job");
            rec.webhook_delivery
                .as_ref()
                .is_some_and(|d| d["status"] == "failed")
                .then_some(rec)
        })
        .await;
        let delivery = rec.webhook_delivery.expect("recorded");
        assert_eq!(delivery["attempts"], 2, "{delivery}");
        let job = delivery["delivery_job"].as_str().expect("the delivery job");
        let (status, shown) = stack.get_json(&format!("/v1/jobs/{job}")).await;
        assert_eq!(status, 200);
        assert_eq!(shown["kind"], "webhook");
        assert_eq!(shown["state"], "failed", "{shown}");
    }
    assert_eq!(
        dead.most_at_once.load(Ordering::SeqCst),
        1,
        "deliveries to one endpoint are bounded to events.webhook.per_endpoint_concurrency"
    );
    assert_eq!(dead.accepted.load(Ordering::SeqCst), 6, "two attempts each");
    stack.stop().await;
}
