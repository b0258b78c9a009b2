//! `creel sim`, `creel vendor sign` and `creel vendor call` as an operator runs them: the
//! simulator as its own process, signatures that match the VENDORS.md known answers, and one
//! signed call per vendor with its classification and exit code.

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

struct Sim(Child);

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

fn creel(config: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_creel"))
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .expect("run creel")
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

#[test]
fn operators_sign_and_call_against_creel_sim() {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let _sim = Sim(Command::new(env!("CARGO_BIN_EXE_creel"))
        .args(["sim", "--listen", &format!("127.0.0.1:{port}")])
        .stderr(Stdio::null())
        .spawn()
        .expect("creel sim"));
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "creel sim did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    let redis = creel_queue::embedded::RedisServer::start().expect("redis-server");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("creel.toml");
    // Small quotas, so the limiter's cold start (one window) passes within the horizon.
    let quota = "quota = { requests = 50, window_ms = 200 }";
    std::fs::write(
        &config,
        format!(
            "[redis]\nurl = \"{}\"\n\
             [accounts.plaso]\nvendor = \"plaso\"\nid = \"demo_app\"\nsecret = \"test-secret-key\"\nbase_url = \"{base}/plaso\"\n{quota}\n\
             [accounts.bjy]\nvendor = \"baijiayun\"\nid = \"12345\"\nsecret = \"8jewu3j93jjewi3jwj90093jkyu\"\nbase_url = \"{base}/baijiayun\"\n{quota}\n\
             [accounts.wc]\nvendor = \"weclassroom\"\nid = \"sim-app\"\nsecret = \"32bf27979cf0dba95d80f500f553ed53\"\nbase_url = \"{base}/weclassroom\"\n{quota}\n\
             [accounts.wc_slow]\nvendor = \"weclassroom\"\nid = \"sim-app\"\nsecret = \"32bf27979cf0dba95d80f500f553ed53\"\nbase_url = \"{base}/weclassroom\"\n\
             quota = {{ requests = 50, window_ms = 2500 }}\n\
             [limiter]\nhorizon_ms = 1000\n",
            redis.url()
        ),
    )
    .expect("config");

    let out = creel(
        &config,
        &[
            "--json",
            "vendor",
            "sign",
            "baijiayun",
            "--account",
            "bjy",
            "video_id=456",
            "timestamp=1596096142",
        ],
    );
    assert!(out.status.success());
    let v = json(&out);
    assert_eq!(v["sign"], "95b1618b51f5e38f1889f1bee9d54c00");
    assert!(
        v["canonical"]
            .as_str()
            .is_some_and(|c| c.ends_with("partner_key=***")),
        "{v}"
    );

    let out = creel(
        &config,
        &[
            "--json",
            "vendor",
            "sign",
            "plaso",
            "--account",
            "plaso",
            "fileName=第1课-回放",
            "recordId=64abb520a7ffbc00091f828e",
            "convertMode:=20",
            "resolution=1080P",
            "validBegin:=1700000000",
            "validTime:=300",
        ],
    );
    assert_eq!(
        json(&out)["signature"],
        "AB4FCD5141211CFE71E2C165D32B751D56EF93BD"
    );

    let out = creel(
        &config,
        &[
            "--json",
            "vendor",
            "sign",
            "weclassroom",
            "--account",
            "wc",
            "--iv",
            "000102030405060708090a0b0c0d0e0f",
            "lessonId=10384374",
            "diskId=356",
        ],
    );
    let v = json(&out);
    assert_eq!(
        v["serialized"],
        r#"a:2:{s:8:"lessonId";i:10384374;s:6:"diskId";i:356;}"#
    );
    assert_eq!(
        v["mac"],
        "bb66f6b92d8d4896c007ad082d7bf8e24b30268e233c39702b0965575f1d4408"
    );

    let out = creel(
        &config,
        &[
            "--json",
            "vendor",
            "call",
            "weclassroom",
            "replay_url",
            "--account",
            "wc",
            r#"lessonId:="10001""#,
        ],
    );
    let v = json(&out);
    assert!(out.status.success(), "{v}");
    assert_eq!(v["classification"], "success");
    assert!(
        v["answer"]["data"]["mp4url"]
            .as_str()
            .is_some_and(|u| u.starts_with(&base)),
        "{v}"
    );

    let out = creel(
        &config,
        &[
            "--json",
            "vendor",
            "call",
            "plaso",
            "transfer_video",
            "--account",
            "plaso",
            "fileName=l1",
            "recordId=demo-record-1",
        ],
    );
    let v = json(&out);
    assert!(out.status.success(), "{v}");
    assert!(v["answer"]["taskId"].is_string(), "{v}");

    let out = creel(
        &config,
        &[
            "--json",
            "vendor",
            "call",
            "baijiayun",
            "vod_get_info",
            "--account",
            "bjy",
            "video_id=424242",
        ],
    );
    let v = json(&out);
    assert_eq!(out.status.code(), Some(1), "{v}");
    assert_eq!(
        v["classification"], "retryable",
        "code 1 is the generic \"see msg\" failure"
    );
    assert_eq!(v["answer"]["vendor_code"], 1);

    let out = creel(
        &config,
        &[
            "vendor",
            "call",
            "baijiayun",
            "no_such_api",
            "--account",
            "bjy",
        ],
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("vod_get_url"),
        "lists the known endpoints"
    );

    // A quota whose window is longer than the limiter's horizon, on a Redis that has never
    // seen it: the first slot is one window away. Without time to wait the call says why.
    let slow_call = |wait: &str| {
        creel(
            &config,
            &[
                "--json",
                "vendor",
                "call",
                "weclassroom",
                "replay_url",
                "--account",
                "wc_slow",
                "--max-wait-secs",
                wait,
                r#"lessonId:="10001""#,
            ],
        )
    };
    let out = slow_call("0");
    let v = json(&out);
    assert_eq!(out.status.code(), Some(1), "{v}");
    let error = v["answer"]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("first use on this Redis") && error.contains("by design"),
        "{v}"
    );
    // With time to wait it waits for the slot, saying so, and succeeds.
    let out = slow_call("30");
    let v = json(&out);
    assert!(out.status.success(), "{v}");
    assert_eq!(v["classification"], "success");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("waiting") && stderr.contains("quota slot"),
        "{stderr}"
    );
}
