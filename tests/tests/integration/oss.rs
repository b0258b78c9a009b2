//! Aliyun OSS through its S3-compatible endpoint, against the test S3 server in OSS mode: it
//! refuses path-style requests, `aws-chunked` bodies and empty checksum headers, as OSS does.
//! Every sink case must pass with no refusal; a path-style client is refused (the layer bites).

use bytes::Bytes;
use creel_core::Secret;
use creel_core::config::OssProfile;
use creel_storage::{ObjectKey, ObjectMeta, S3Sink, Sink, Upload};
use creel_tests::s3_server::{S3Server, loopback_test_domain_client};
use md5::{Digest, Md5};

const DOMAIN: &str = "oss-test.test";

fn profile(server: &S3Server) -> OssProfile {
    server.oss_profile("lessons", DOMAIN, "creel/")
}

async fn put(sink: &S3Sink, key: &str, body: &[u8]) -> Result<(), creel_storage::StorageError> {
    let key = ObjectKey::parse(key).expect("key");
    let meta = ObjectMeta {
        source: Some("https://cdn.example.com/x.mp4".into()),
        ..ObjectMeta::default()
    };
    let mut up = sink.begin(&key, Some(body.len() as u64), &meta).await?;
    for c in body.chunks(100_003) {
        up.write(Bytes::copy_from_slice(c)).await?;
    }
    up.finish().await.map(|_| ())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oss_accepts_every_request_creel_sends() {
    let server = S3Server::start_oss("lessons", DOMAIN).await;
    let p = profile(&server);
    let sink = S3Sink::with_http_client(&p.as_s3(), loopback_test_domain_client()).await;
    let small: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    let big: Vec<u8> = (0..(11u32 << 20))
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    put(&sink, "a/small.bin", &small)
        .await
        .expect("single PUT accepted by OSS");
    put(&sink, "a/big.bin", &big)
        .await
        .expect("multipart accepted by OSS");
    assert!(
        server.refusals().is_empty(),
        "OSS would refuse: {:?}",
        server.refusals()
    );
    for (key, body) in [("a/small.bin", &small), ("a/big.bin", &big)] {
        let stored =
            std::fs::read(server.root.path().join("lessons/creel").join(key)).expect("object");
        assert_eq!(Md5::digest(&stored), Md5::digest(body), "{key}");
    }
    assert_eq!(
        server
            .requests()
            .iter()
            .filter(|r| r.is_upload_part())
            .count(),
        3
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_oss_layer_refuses_path_style_requests() {
    let server = S3Server::start_oss("lessons", DOMAIN).await;
    let mut s3 = profile(&server).as_s3();
    s3.path_style = true;
    let sink = S3Sink::with_http_client(&s3, loopback_test_domain_client()).await;
    let err = put(&sink, "refused.bin", b"hello")
        .await
        .expect_err("path-style must be refused");
    assert!(err.to_string().contains("400"), "{err}");
    assert!(
        server
            .refusals()
            .iter()
            .any(|r| r.contains("SecondLevelDomainForbidden")),
        "{:?}",
        server.refusals()
    );
}

#[test]
fn the_standard_oss_endpoint_is_virtual_hosted_with_the_oss_region() {
    let p = OssProfile {
        endpoint: None,
        internal: true,
        ..profile_for_docs()
    };
    let s3 = p.as_s3();
    assert_eq!(
        s3.endpoint.as_deref(),
        Some("https://s3.oss-cn-hangzhou-internal.aliyuncs.com")
    );
    assert_eq!(s3.region, "oss-cn-hangzhou");
    assert!(!s3.path_style);
}

fn profile_for_docs() -> OssProfile {
    OssProfile {
        bucket: "b".into(),
        region: "cn-hangzhou".into(),
        internal: false,
        endpoint: None,
        prefix: String::new(),
        access_key_id: "ak".into(),
        access_key_secret: Secret::new("sk"),
        part_size_mib: None,
        parts_in_flight: 4,
    }
}
