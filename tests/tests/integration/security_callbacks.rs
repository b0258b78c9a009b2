//! Security, vendor callbacks: forged, replayed, rearranged, oversized and probing callbacks are
//! refused, and an unknown account answers exactly like a bad signature. Driven through the
//! real callback routes of `creel api`.
#![allow(clippy::print_stdout)] // the SECURITY figures line is what the README reports

use std::collections::BTreeMap;

use creel_core::Secret;
use creel_core::config::{Vendor, VendorAccount};
use creel_tests::stack::Stack;
use creel_vendors::baijiayun::sign;

const BJY_KEY: &str = "bjy-partner-key-for-the-security-suite";
const PLASO_TOKEN: &str = "plaso-callback-token-0123456789abcdef";

async fn stack() -> Stack {
    Stack::start_with(|cfg| {
        cfg.accounts.insert(
            "bjy".into(),
            VendorAccount::new(Vendor::Baijiayun, "1234", Secret::new(BJY_KEY)),
        );
        let mut plaso = VendorAccount::new(Vendor::Plaso, "app", Secret::new("plaso-secret"));
        plaso.plaso.callback_token = Some(Secret::new(PLASO_TOKEN));
        cfg.accounts.insert("plaso".into(), plaso);
    })
    .await
}

fn form(fields: &BTreeMap<String, String>) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}

fn signed(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut f: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let s = sign::sign(&f, BJY_KEY);
    f.insert("sign".into(), s);
    f
}

async fn post(stack: &Stack, path: &str, body: String, content_type: &str) -> (u16, String) {
    let res = stack
        .http
        .post(format!("{}{path}", stack.api))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("answer");
    (res.status().as_u16(), res.text().await.unwrap_or_default())
}

const FORM: &str = "application/x-www-form-urlencoded";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_replayed_and_probing_callbacks_are_refused() {
    let stack = stack().await;
    let now = chrono::Utc::now().timestamp().to_string();
    let mut tried = 0;
    let mut refused = 0;
    let mut expect = |what: &str, got: (u16, String), want_status: u16| {
        tried += 1;
        if got.0 == want_status {
            refused += 1;
        } else {
            eprintln!("LEAK: {what}: {} {}", got.0, got.1);
        }
    };

    // A genuine VOD transcode callback is accepted once.
    let genuine = signed(&[
        ("video_id", "600001"),
        ("status", "100"),
        ("room_id", "5"),
        ("qid", "q1"),
        ("timestamp", &now),
    ]);
    let (s, body) = post(&stack, "/callbacks/baijiayun/bjy", form(&genuine), FORM).await;
    assert_eq!((s, body.as_str()), (200, r#"{"code":0}"#));
    let signals_before = signal_keys(&stack);

    // The same fields rearranged so the signed string is unchanged: `room_id` moved into the
    // qid. The sign still matches the old rule; the callback must be refused all the same.
    let mut rearranged: BTreeMap<String, String> = genuine.clone();
    rearranged.remove("room_id");
    rearranged.insert("qid".into(), "q1&room_id=5".into());
    assert_eq!(
        sign::canonical_string(&rearranged, BJY_KEY),
        sign::canonical_string(&genuine, BJY_KEY),
        "the rearranged form signs alike"
    );
    let bad_sign = post(&stack, "/callbacks/baijiayun/bjy", form(&rearranged), FORM).await;
    expect("a rearranged replay", bad_sign.clone(), 400);
    // '=' inside a value, likewise.
    let mut eq = genuine.clone();
    eq.insert("qid".into(), "q=2".into());
    expect(
        "'=' in a value",
        post(&stack, "/callbacks/baijiayun/bjy", form(&eq), FORM).await,
        400,
    );
    // A forged sign.
    let mut forged = genuine.clone();
    forged.insert("video_id".into(), "600002".into());
    let forged_answer = post(&stack, "/callbacks/baijiayun/bjy", form(&forged), FORM).await;
    expect("a forged sign", forged_answer.clone(), 400);
    // An unknown account answers exactly like a bad sign.
    let probe = post(&stack, "/callbacks/baijiayun/nobody", form(&genuine), FORM).await;
    assert_eq!(
        probe, forged_answer,
        "an unknown account looks like a bad sign"
    );
    expect("an unknown account", probe, 400);
    // A stale callback.
    let stale = signed(&[
        ("video_id", "600001"),
        ("status", "100"),
        ("qid", "q-old"),
        ("timestamp", "1600000000"),
    ]);
    expect(
        "a stale callback",
        post(&stack, "/callbacks/baijiayun/bjy", form(&stale), FORM).await,
        400,
    );
    // The genuine one again: acknowledged (the vendor must stop retrying) but not signalled again.
    let (s, _) = post(&stack, "/callbacks/baijiayun/bjy", form(&genuine), FORM).await;
    assert_eq!(s, 200);
    assert_eq!(
        signal_keys(&stack),
        signals_before,
        "a replay signals nothing new"
    );

    // Plaso: only the documented statuses, bounded fields, the right token.
    let plaso = format!("/callbacks/plaso/{PLASO_TOKEN}");
    let json = "application/json";
    expect(
        "an undocumented Plaso status",
        post(
            &stack,
            &plaso,
            r#"{"taskId":"t1","status":"12345"}"#.into(),
            json,
        )
        .await,
        400,
    );
    expect(
        "a 200-byte taskId",
        post(
            &stack,
            &plaso,
            format!(r#"{{"taskId":"{}","status":"1"}}"#, "t".repeat(200)),
            json,
        )
        .await,
        400,
    );
    expect(
        "a 1 MB taskId",
        post(
            &stack,
            &plaso,
            format!(r#"{{"taskId":"{}","status":"1"}}"#, "t".repeat(1 << 20)),
            json,
        )
        .await,
        413,
    );
    expect(
        "a wrong Plaso token",
        post(
            &stack,
            "/callbacks/plaso/wrong-token",
            r#"{"taskId":"t1","status":"1"}"#.into(),
            json,
        )
        .await,
        404,
    );
    let (s, _) = post(
        &stack,
        &plaso,
        r#"{"taskId":"t1","status":"1"}"#.into(),
        json,
    )
    .await;
    assert_eq!(s, 200, "a documented status is taken");
    println!(
        "SECURITY callbacks tried={tried} refused={refused} leaked={}",
        tried - refused
    );
    assert_eq!(refused, tried);
    stack.stop().await;
}

fn signal_keys(stack: &Stack) -> Vec<String> {
    use redis::Commands;
    let mut c = stack.redis.connection().expect("conn");
    let mut keys: Vec<String> = c.keys("creel:sig:*:payload").expect("keys");
    keys.sort();
    keys
}
