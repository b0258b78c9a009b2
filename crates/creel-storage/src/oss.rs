//! Aliyun OSS, through its S3-compatible endpoint with the S3 sink. What OSS requires and the
//! S3 sink already does for every store: virtual-hosted addressing (set by
//! `OssProfile::as_s3`), plain request bodies (no `aws-chunked` streaming signatures: bodies
//! are sized `ByteStream`s) and no SDK checksum headers unless an operation requires them
//! (`RequestChecksumCalculation::WhenRequired`). Keep any further OSS quirk here, so a native
//! OSS client could later take this module's place behind the same `Sink` trait.
//! `aliyun-oss-rust-sdk` is not used: it has no multipart and no streaming.

use creel_core::config::OssProfile;

use crate::S3Sink;

/// A sink for an OSS bucket.
pub async fn sink(profile: &OssProfile) -> S3Sink {
    S3Sink::new(&profile.as_s3()).await
}
