//! A real S3 server for tests: s3s-fs (files on disk behind the S3 protocol, with SigV4 auth)
//! on a free loopback port, path-style, with a log of every request so tests can count
//! operations such as UploadPart.

use std::sync::{Arc, Mutex};

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use tokio_util::sync::CancellationToken;

/// The access key the test server accepts.
pub const ACCESS_KEY: &str = "creel-test-access";
/// The secret key the test server accepts.
pub const SECRET_KEY: &str = "creel-test-secret-key-0123456789";

/// One request the server received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    /// `GET`, `PUT`, …
    pub method: String,
    /// Path and query.
    pub target: String,
}

impl LoggedRequest {
    /// Whether this is an UploadPart call.
    #[must_use]
    pub fn is_upload_part(&self) -> bool {
        self.method == "PUT"
            && self.target.contains("partNumber=")
            && self.target.contains("uploadId=")
    }
}

/// A running S3 server; stops when dropped.
#[derive(Debug)]
pub struct S3Server {
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    /// Where the objects live on disk.
    pub root: tempfile::TempDir,
    log: Arc<Mutex<Vec<LoggedRequest>>>,
    _stop: tokio_util::sync::DropGuard,
}

impl S3Server {
    /// Starts a server with one empty bucket.
    pub async fn start(bucket: &str) -> Self {
        let root = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(root.path().join(bucket)).expect("bucket directory");
        let fs = s3s_fs::FileSystem::new(root.path()).expect("s3s-fs");
        let service = {
            let mut b = S3ServiceBuilder::new(fs);
            b.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
            b.build()
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = CancellationToken::new();
        let (l, s) = (Arc::clone(&log), stop.clone());
        tokio::spawn(async move {
            let http = ConnBuilder::new(TokioExecutor::new());
            loop {
                let socket = tokio::select! {
                    () = s.cancelled() => return,
                    r = listener.accept() => match r { Ok((sock, _)) => sock, Err(_) => continue },
                };
                let svc = service.clone();
                let l = Arc::clone(&l);
                let logged = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        if let Ok(mut log) = l.lock() {
                            log.push(LoggedRequest {
                                method: req.method().to_string(),
                                target: req
                                    .uri()
                                    .path_and_query()
                                    .map(ToString::to_string)
                                    .unwrap_or_default(),
                            });
                        }
                        hyper::service::Service::call(&svc, req)
                    },
                );
                let conn = http
                    .serve_connection(TokioIo::new(socket), logged)
                    .into_owned();
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
        });
        Self {
            endpoint,
            root,
            log,
            _stop: stop.drop_guard(),
        }
    }

    /// Every request so far.
    #[must_use]
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Parts of multipart uploads that were neither completed nor aborted (s3s-fs keeps them as
    /// `.upload_id-<id>.part-<n>` files until then).
    #[must_use]
    pub fn open_upload_parts(&self) -> usize {
        std::fs::read_dir(self.root.path())
            .map(|d| {
                d.flatten()
                    .filter(|e| e.file_name().to_string_lossy().starts_with(".upload_id-"))
                    .count()
            })
            .unwrap_or(0)
    }

    /// A storage profile for this server.
    #[must_use]
    pub fn profile(
        &self,
        bucket: &str,
        part_size_mib: Option<u64>,
    ) -> creel_core::config::S3Profile {
        creel_core::config::S3Profile {
            bucket: bucket.to_owned(),
            region: "us-east-1".to_owned(),
            prefix: String::new(),
            endpoint: Some(self.endpoint.clone()),
            path_style: true,
            access_key_id: Some(ACCESS_KEY.to_owned()),
            secret_access_key: Some(creel_core::Secret::new(SECRET_KEY)),
            part_size_mib,
            parts_in_flight: 3,
        }
    }
}
