//! The same cases against every sink: small, empty, exactly one part, many parts, unknown
//! length, abort leaves nothing. S3 runs against a real S3 server (s3s-fs) in-process.

use bytes::Bytes;
use creel_core::config::StorageProfile;
use creel_storage::{AnySink, ObjectKey, ObjectMeta, Sink, Upload};
use creel_tests::s3_server::S3Server;
use md5::{Digest, Md5};

const PART: usize = 5 << 20;

/// What a sink stored, read back by key.
enum Store {
    Dir(tempfile::TempDir),
    S3(S3Server, AnySink),
}

impl Store {
    async fn read(&self, key: &str) -> Option<Vec<u8>> {
        match self {
            Store::Dir(d) => std::fs::read(d.path().join(key)).ok(),
            Store::S3(_, AnySink::S3(s)) => {
                let out = s
                    .client()
                    .get_object()
                    .bucket(s.bucket())
                    .key(key)
                    .send()
                    .await
                    .ok()?;
                Some(out.body.collect().await.ok()?.into_bytes().to_vec())
            }
            Store::S3(..) => None,
        }
    }

    /// Uploaded parts not yet completed or aborted (0 for a directory).
    fn open_upload_parts(&self) -> usize {
        match self {
            Store::S3(server, _) => server.open_upload_parts(),
            Store::Dir(_) => 0,
        }
    }
}

async fn stores() -> Vec<(&'static str, Store, AnySink)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir_sink = AnySink::from_profile(&StorageProfile::Dir {
        path: dir.path().to_path_buf(),
    })
    .await;
    let s3 = S3Server::start("lessons").await;
    let s3_sink = AnySink::from_profile(&StorageProfile::S3(s3.profile("lessons", Some(5)))).await;
    vec![
        ("dir", Store::Dir(dir), dir_sink.clone()),
        ("s3", Store::S3(s3, s3_sink.clone()), s3_sink),
    ]
}

fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = fastrand_like(seed);
    (0..len).map(|_| rng()).collect()
}

fn fastrand_like(mut x: u64) -> impl FnMut() -> u8 {
    x |= 1;
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 32) as u8
    }
}

async fn put(sink: &AnySink, key: &str, body: &[u8], announce: Option<u64>, chunk: usize) {
    let key = ObjectKey::parse(key).expect("key");
    let meta = ObjectMeta {
        source: Some("http://example.com/src".into()),
    };
    let mut up = sink.begin(&key, announce, &meta).await.expect("begin");
    for c in body.chunks(chunk.max(1)) {
        up.write(Bytes::copy_from_slice(c)).await.expect("write");
    }
    let stored = up.finish().await.expect("finish");
    assert_eq!(stored.bytes, body.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sink_stores_objects_of_every_shape() {
    for (name, store, sink) in stores().await {
        let cases: Vec<(&str, Vec<u8>, bool)> = vec![
            ("small.bin", data(10 * 1024, 1), true),
            ("empty.bin", Vec::new(), true),
            ("one-part.bin", data(PART, 2), true),
            ("many-parts.bin", data(2 * PART + PART / 2 + 123, 3), true),
            ("unknown-length.bin", data(PART + 77, 4), false),
        ];
        for (key, body, announce) in cases {
            let len = announce.then_some(body.len() as u64);
            put(&sink, key, &body, len, 64 * 1024 + 13).await;
            let back = store
                .read(key)
                .await
                .unwrap_or_else(|| panic!("{name}: {key} not stored"));
            assert_eq!(back.len(), body.len(), "{name}: {key}");
            assert_eq!(
                Md5::digest(&back),
                Md5::digest(&body),
                "{name}: {key} differs"
            );
        }
        assert_eq!(store.open_upload_parts(), 0, "{name}: no upload left open");
        if let Store::S3(server, _) = &store {
            let parts = server
                .requests()
                .iter()
                .filter(|r| r.is_upload_part())
                .count();
            // one-part: 1, many-parts: 3, unknown-length: 2; the small and empty ones are single PUTs
            assert_eq!(parts, 6, "{name}: UploadPart calls");
            // Bodies are protected by Content-MD5; SigV4 does not hash them a second time.
            for r in server.requests().iter().filter(|r| r.method == "PUT") {
                assert_eq!(
                    r.content_sha256.as_deref(),
                    Some("UNSIGNED-PAYLOAD"),
                    "{name}: {}",
                    r.target
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aborted_upload_leaves_nothing_behind() {
    for (name, store, sink) in stores().await {
        let key = ObjectKey::parse("aborted.bin").expect("key");
        let mut up = sink
            .begin(&key, None, &ObjectMeta::default())
            .await
            .expect("begin");
        up.write(Bytes::from(data(2 * PART + 5, 9)))
            .await
            .expect("write");
        if let Store::S3(server, _) = &store {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while server.open_upload_parts() == 0 {
                assert!(
                    std::time::Instant::now() < deadline,
                    "{name}: no part arrived before the abort"
                );
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
        up.abort().await;
        assert!(
            store.read("aborted.bin").await.is_none(),
            "{name}: an aborted object must not exist"
        );
        assert_eq!(
            store.open_upload_parts(),
            0,
            "{name}: the multipart upload is aborted"
        );
        if let Store::S3(server, _) = &store {
            assert!(
                server
                    .requests()
                    .iter()
                    .any(|r| r.method == "DELETE" && r.target.contains("uploadId=")),
                "{name}: AbortMultipartUpload was sent"
            );
        }
        let leftovers = match &store {
            Store::Dir(d) => std::fs::read_dir(d.path()).map(|r| r.count()).unwrap_or(0),
            Store::S3(..) => 0,
        };
        assert_eq!(leftovers, 0, "{name}: no temporary file is left");
    }
}
