//! A real S3 server for tests: s3s-fs (files on disk behind the S3 protocol, with SigV4 auth,
//! plus the part checks and upload listing of [`crate::checked_fs`])
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
    /// The `x-amz-content-sha256` header (`UNSIGNED-PAYLOAD`, a hex digest, `STREAMING-…`).
    pub content_sha256: Option<String>,
    /// Which body checks it carried: `content-md5`, `x-amz-checksum-crc32c`.
    pub body_checks: Vec<&'static str>,
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

/// A fault the server can put on CompleteMultipartUpload answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompleteFault {
    /// The upload is completed, but the 200 answer has an XML root no client expects (what
    /// moto 5.2.1 was seen to send).
    MangledAnswer,
    /// The upload is not completed, and the same mangled 200 answer comes back.
    LostCompletion,
}

/// The 200 body of a [`CompleteFault`].
const MANGLED_COMPLETE: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><NotTheRootYouExpected><Bucket>x</Bucket></NotTheRootYouExpected>";

/// A running S3 server; stops when dropped.
#[derive(Debug)]
pub struct S3Server {
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    /// Where the objects live on disk.
    pub root: tempfile::TempDir,
    log: Arc<Mutex<Vec<LoggedRequest>>>,
    refusals: Arc<Mutex<Vec<String>>>,
    complete_fault: Arc<Mutex<Option<CompleteFault>>>,
    part_faults: Arc<std::sync::atomic::AtomicUsize>,
    _stop: tokio_util::sync::DropGuard,
}

impl S3Server {
    /// Starts a server with one empty bucket, path-style.
    pub async fn start(bucket: &str) -> Self {
        Self::start_with(bucket, None).await
    }

    /// Starts a server that behaves as Aliyun OSS's S3-compatible endpoint does on `domain`:
    /// only virtual-hosted requests (`<bucket>.<domain>`), no `aws-chunked` bodies and no empty
    /// checksum headers. Requests OSS would refuse are answered 400 and logged in
    /// [`S3Server::refusals`].
    pub async fn start_oss(bucket: &str, domain: &str) -> Self {
        Self::start_with(bucket, Some(domain.to_owned())).await
    }

    async fn start_with(bucket: &str, oss_domain: Option<String>) -> Self {
        let root = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(root.path().join(bucket)).expect("bucket directory");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let endpoint = format!("http://{addr}");
        let fs = crate::checked_fs::CheckedFs::new(root.path().to_path_buf());
        let service = {
            let mut b = S3ServiceBuilder::new(fs);
            b.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
            if let Some(domain) = &oss_domain {
                // s3s compares the Host header with its port
                let with_port = format!("{domain}:{}", addr.port());
                b.set_host(s3s::host::SingleDomain::new(&with_port).expect("domain"));
            }
            b.build()
        };
        let log = Arc::new(Mutex::new(Vec::new()));
        let refusals: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
        let complete_fault: Arc<Mutex<Option<CompleteFault>>> = Arc::default();
        let stop = CancellationToken::new();
        let (l, s, r) = (Arc::clone(&log), stop.clone(), Arc::clone(&refusals));
        let faults = Arc::clone(&complete_fault);
        let part_faults = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let failing_parts = Arc::clone(&part_faults);
        tokio::spawn(async move {
            let http = ConnBuilder::new(TokioExecutor::new());
            loop {
                let socket = tokio::select! {
                    () = s.cancelled() => return,
                    r = listener.accept() => match r { Ok((sock, _)) => sock, Err(_) => continue },
                };
                let svc = service.clone();
                let (l, r, f) = (Arc::clone(&l), Arc::clone(&r), Arc::clone(&faults));
                let failing_parts = Arc::clone(&failing_parts);
                let domain = oss_domain.clone();
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
                                content_sha256: req
                                    .headers()
                                    .get("x-amz-content-sha256")
                                    .and_then(|v| v.to_str().ok())
                                    .map(str::to_owned),
                                body_checks: ["content-md5", "x-amz-checksum-crc32c"]
                                    .into_iter()
                                    .filter(|h| req.headers().contains_key(*h))
                                    .collect(),
                            });
                        }
                        let refusal = domain.as_deref().and_then(|d| oss_refusal(&req, d));
                        if let (Some(reason), Ok(mut refused)) = (&refusal, r.lock()) {
                            refused.push(reason.clone());
                        }
                        let is_complete = req.method() == hyper::Method::POST
                            && req.uri().query().is_some_and(|q| q.contains("uploadId="));
                        let fault = is_complete
                            .then(|| f.lock().ok().and_then(|f| *f))
                            .flatten();
                        let is_part = req.method() == hyper::Method::PUT
                            && req.uri().query().is_some_and(|q| {
                                q.contains("partNumber=") && q.contains("uploadId=")
                            });
                        let fail_part = is_part
                            && failing_parts
                                .fetch_update(
                                    std::sync::atomic::Ordering::SeqCst,
                                    std::sync::atomic::Ordering::SeqCst,
                                    |n| n.checked_sub(1),
                                )
                                .is_ok();
                        let svc = svc.clone();
                        async move {
                            if fail_part {
                                return Ok(hyper::Response::builder()
                                    .status(503)
                                    .body(s3s::Body::from(
                                        "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>".to_owned(),
                                    ))
                                    .expect("response"));
                            }
                            if let Some(reason) = refusal {
                                return Ok(hyper::Response::builder()
                                    .status(400)
                                    .body(s3s::Body::from(format!(
                                        "<Error><Code>InvalidRequest</Code><Message>{reason}</Message></Error>"
                                    )))
                                    .expect("response"));
                            }
                            let mangled = || {
                                hyper::Response::builder()
                                    .status(200)
                                    .body(s3s::Body::from(MANGLED_COMPLETE.to_owned()))
                                    .expect("response")
                            };
                            match fault {
                                Some(CompleteFault::MangledAnswer) => {
                                    hyper::service::Service::call(&svc, req).await?;
                                    Ok(mangled())
                                }
                                Some(CompleteFault::LostCompletion) => Ok(mangled()),
                                None => hyper::service::Service::call(&svc, req).await,
                            }
                        }
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
            refusals,
            complete_fault,
            part_faults,
            _stop: stop.drop_guard(),
        }
    }

    /// Puts `fault` on every CompleteMultipartUpload answer from now on.
    pub fn fault_complete_answers(&self, fault: CompleteFault) {
        if let Ok(mut f) = self.complete_fault.lock() {
            *f = Some(fault);
        }
    }

    /// An OSS profile for this server started with [`S3Server::start_oss`] on `domain`
    /// (virtual-hosted: use [`loopback_test_domain_client`]), 5 MiB parts, under `prefix`.
    #[must_use]
    pub fn oss_profile(
        &self,
        bucket: &str,
        domain: &str,
        prefix: &str,
    ) -> creel_core::config::OssProfile {
        let port = self.endpoint.rsplit(':').next().unwrap_or_default();
        creel_core::config::OssProfile {
            bucket: bucket.to_owned(),
            region: "cn-hangzhou".into(),
            internal: false,
            endpoint: Some(format!("http://{domain}:{port}")),
            prefix: prefix.to_owned(),
            access_key_id: ACCESS_KEY.into(),
            access_key_secret: creel_core::Secret::new(SECRET_KEY),
            part_size_mib: Some(5),
            parts_in_flight: 2,
        }
    }

    /// Answers the next `n` UploadPart requests `503 SlowDown` (throttled, as S3 does under
    /// load), unread.
    pub fn fail_upload_parts(&self, n: usize) {
        self.part_faults
            .store(n, std::sync::atomic::Ordering::SeqCst);
    }

    /// The hex MD5 of the stored object `bucket/key`; panics if there is none.
    #[must_use]
    pub fn object_md5(&self, path: &str) -> String {
        use md5::Digest;
        let stored = std::fs::read(self.root.path().join(path))
            .unwrap_or_else(|e| panic!("object {path} on the S3 server: {e}"));
        hex::encode(md5::Md5::digest(&stored))
    }

    /// Requests refused for breaking an OSS rule.
    #[must_use]
    pub fn refusals(&self) -> Vec<String> {
        self.refusals.lock().map(|r| r.clone()).unwrap_or_default()
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
            part_checksum: creel_core::config::PartChecksum::default(),
        }
    }
}

/// What OSS's S3-compatible endpoint refuses, as far as creel's requests go.
fn oss_refusal<B>(req: &hyper::Request<B>, domain: &str) -> Option<String> {
    let host = req
        .headers()
        .get(hyper::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let name = host.split(':').next().unwrap_or("");
    if name == domain || !name.ends_with(&format!(".{domain}")) {
        return Some(format!(
            "SecondLevelDomainForbidden: path-style request to {host}"
        ));
    }
    let header = |n: &str| req.headers().get(n).and_then(|v| v.to_str().ok());
    if header("content-encoding").is_some_and(|v| v.contains("aws-chunked"))
        || header("x-amz-content-sha256").is_some_and(|v| v.starts_with("STREAMING-"))
    {
        return Some("aws-chunked bodies are not supported".into());
    }
    for (name, value) in req.headers() {
        let n = name.as_str();
        let checksum = n.starts_with("x-amz-checksum-")
            || n == "content-md5"
            || n == "x-amz-sdk-checksum-algorithm";
        if checksum && value.is_empty() {
            return Some(format!("empty checksum header {n}"));
        }
    }
    None
}

/// An AWS SDK HTTP client whose resolver sends every `*.test` name to 127.0.0.1, so
/// virtual-hosted requests (`<bucket>.<domain>.test`) reach the test server.
#[must_use]
pub fn loopback_test_domain_client() -> aws_sdk_s3::config::SharedHttpClient {
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
        .build_with_resolver(TestDomainResolver)
}

#[derive(Debug, Clone)]
struct TestDomainResolver;

impl aws_smithy_runtime_api::client::dns::ResolveDns for TestDomainResolver {
    fn resolve_dns<'a>(
        &'a self,
        name: &'a str,
    ) -> aws_smithy_runtime_api::client::dns::DnsFuture<'a> {
        use aws_smithy_runtime_api::client::dns::{DnsFuture, ResolveDnsError};
        if name.ends_with(".test") || name == "localhost" {
            DnsFuture::ready(Ok(vec![std::net::IpAddr::from([127, 0, 0, 1])]))
        } else {
            DnsFuture::ready(Err(ResolveDnsError::new(format!(
                "{name} is not a test name"
            ))))
        }
    }
}
