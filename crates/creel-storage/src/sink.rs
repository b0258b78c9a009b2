//! The shape every sink has: begin an object, write chunks, finish (the object appears whole)
//! or abort (nothing remains). [`AnySink`] picks the sink a storage profile names.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use creel_core::config::{PartChecksum, StorageProfile};

use crate::{
    DirSink, DirUpload, Leftover, ObjectKey, S3Sink, S3Upload, StorageError, StoredObject,
};

/// Where a multipart upload stands after its contiguous run of finished parts: enough for a
/// later run to go on from `offset` without uploading those parts again.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UploadCheckpoint {
    /// The multipart upload.
    pub upload_id: String,
    /// Its part size.
    pub part_size: u64,
    /// Finished parts 1..=n.
    pub parts: Vec<FinishedPart>,
    /// Bytes those parts hold.
    pub offset: u64,
    /// The whole-file MD5 state after `offset` bytes (hex of md-5's serialized state).
    pub md5_state: String,
    /// The check the upload's parts carry; a resumed upload keeps it, whatever the profile now
    /// says, because the store ties it to the upload.
    #[serde(default = "md5_checked")]
    pub part_checksum: PartChecksum,
}

fn md5_checked() -> PartChecksum {
    PartChecksum::Md5
}

/// One part a multipart upload already holds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FinishedPart {
    /// Its number, from 1.
    pub number: i32,
    /// The ETag the store answered.
    pub etag: String,
    /// Its CRC32C (base64), when the upload is checked with CRC32C: CompleteMultipartUpload
    /// must repeat it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crc32c: Option<String>,
}

/// Facts recorded with a finished object (S3 and OSS: as user metadata `creel-source` and
/// `creel-md5`; a directory records none).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectMeta {
    /// Where the bytes came from.
    pub source: Option<String>,
    /// The whole object's MD5 (hex) when it is known before the upload starts (the vendor's).
    /// A multipart upload's metadata is fixed when it is created, so without it only a
    /// single-request upload (below one part) records the MD5 it computed. The caller checks
    /// the bytes against it before the upload is completed.
    pub md5: Option<String>,
}

/// A place objects are written to. A new sink implements `begin` and the leftovers it can
/// leave; one that can resume an interrupted upload also implements `resume` and `discard`
/// (by default it cannot, and a transfer starts over).
pub trait Sink: Send + Sync {
    /// One object being written.
    type Upload: Upload;

    /// Starts writing `key`; `size` is the object's length if known (it sets the part size).
    fn begin(
        &self,
        key: &ObjectKey,
        size: Option<u64>,
        meta: &ObjectMeta,
    ) -> impl Future<Output = Result<Self::Upload, StorageError>> + Send;

    /// Continues the upload `checkpoint` names, so the next byte written is the one at
    /// `checkpoint.offset`; `None` when this sink cannot resume (the transfer starts over).
    fn resume(
        &self,
        key: &ObjectKey,
        meta: &ObjectMeta,
        checkpoint: &UploadCheckpoint,
    ) -> impl Future<Output = Option<Result<Self::Upload, StorageError>>> + Send {
        let _ = (key, meta, checkpoint);
        async { None }
    }

    /// Throws away the upload `checkpoint` names, which will not be resumed (best effort;
    /// nothing to do for a sink that cannot resume).
    fn discard(
        &self,
        key: &ObjectKey,
        checkpoint: &UploadCheckpoint,
    ) -> impl Future<Output = ()> + Send {
        let _ = (key, checkpoint);
        async {}
    }

    /// What interrupted writes left in the store (open multipart uploads, temporary files).
    fn leftovers(&self) -> impl Future<Output = Result<Vec<Leftover>, StorageError>> + Send;

    /// Removes one leftover.
    fn remove_leftover(
        &self,
        leftover: &Leftover,
    ) -> impl Future<Output = Result<(), StorageError>> + Send;
}

/// One object being written.
pub trait Upload: Send {
    /// Appends a chunk.
    fn write(&mut self, chunk: Bytes) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// Bytes accepted so far.
    fn bytes(&self) -> u64;

    /// The MD5 (hex) of the bytes accepted so far (of the whole object once all are written).
    fn md5_hex(&self) -> String;

    /// Where the upload could be resumed from, if this sink can resume and a part has finished.
    fn checkpoint(&self) -> Option<UploadCheckpoint>;

    /// Makes the object appear whole.
    fn finish(self) -> impl Future<Output = Result<StoredObject, StorageError>> + Send;

    /// Throws away what was written (and aborts a multipart upload).
    fn abort(self) -> impl Future<Output = ()> + Send;
}

/// The sink of one storage profile.
#[derive(Debug, Clone)]
pub enum AnySink {
    /// A local directory.
    Dir(DirSink),
    /// An S3 (or S3-compatible) bucket.
    S3(S3Sink),
}

/// An upload to [`AnySink`].
// One value per running transfer: boxing the larger variant would save nothing that matters.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum AnyUpload {
    /// To a directory.
    Dir(DirUpload),
    /// To a bucket.
    S3(S3Upload),
}

impl AnySink {
    /// Builds the sink a profile describes (an S3 client is built once, here).
    pub async fn from_profile(profile: &StorageProfile) -> Self {
        match profile {
            StorageProfile::Dir { path } => Self::Dir(DirSink::new(path)),
            StorageProfile::S3(s3) => Self::S3(S3Sink::new(s3).await),
            StorageProfile::Oss(oss) => Self::S3(crate::oss::sink(oss).await),
        }
    }
}

/// Runs `$body` with `$inner` bound to the sink (or upload) `$value` holds: the one place
/// that lists the sinks for the dispatch below.
macro_rules! each {
    ($value:expr, $any:ident, $inner:ident => $body:expr) => {
        match $value {
            $any::Dir($inner) => $body,
            $any::S3($inner) => $body,
        }
    };
}

impl From<DirUpload> for AnyUpload {
    fn from(u: DirUpload) -> Self {
        Self::Dir(u)
    }
}

impl From<S3Upload> for AnyUpload {
    fn from(u: S3Upload) -> Self {
        Self::S3(u)
    }
}

impl Sink for AnySink {
    type Upload = AnyUpload;

    async fn begin(
        &self,
        key: &ObjectKey,
        size: Option<u64>,
        meta: &ObjectMeta,
    ) -> Result<AnyUpload, StorageError> {
        each!(self, AnySink, s => s.begin(key, size, meta).await.map(AnyUpload::from))
    }

    async fn resume(
        &self,
        key: &ObjectKey,
        meta: &ObjectMeta,
        checkpoint: &UploadCheckpoint,
    ) -> Option<Result<AnyUpload, StorageError>> {
        each!(self, AnySink, s => s
            .resume(key, meta, checkpoint)
            .await
            .map(|r| r.map(AnyUpload::from)))
    }

    async fn discard(&self, key: &ObjectKey, checkpoint: &UploadCheckpoint) {
        each!(self, AnySink, s => s.discard(key, checkpoint).await);
    }

    async fn leftovers(&self) -> Result<Vec<Leftover>, StorageError> {
        each!(self, AnySink, s => s.leftovers().await)
    }

    async fn remove_leftover(&self, leftover: &Leftover) -> Result<(), StorageError> {
        each!(self, AnySink, s => s.remove_leftover(leftover).await)
    }
}

impl Upload for AnyUpload {
    async fn write(&mut self, chunk: Bytes) -> Result<(), StorageError> {
        each!(self, AnyUpload, u => u.write(chunk).await)
    }

    fn bytes(&self) -> u64 {
        each!(self, AnyUpload, u => u.bytes())
    }

    fn md5_hex(&self) -> String {
        each!(self, AnyUpload, u => u.md5_hex())
    }

    fn checkpoint(&self) -> Option<UploadCheckpoint> {
        each!(self, AnyUpload, u => u.checkpoint())
    }

    async fn finish(self) -> Result<StoredObject, StorageError> {
        each!(self, AnyUpload, u => u.finish().await)
    }

    async fn abort(self) {
        each!(self, AnyUpload, u => u.abort().await);
    }
}

/// Every configured profile's sink, built once per process.
#[derive(Debug, Clone, Default)]
pub struct Sinks(Arc<BTreeMap<String, AnySink>>);

impl Sinks {
    /// Builds the sinks of every profile.
    pub async fn from_profiles(profiles: &BTreeMap<String, StorageProfile>) -> Self {
        let mut map = BTreeMap::new();
        for (name, p) in profiles {
            map.insert(name.clone(), AnySink::from_profile(p).await);
        }
        Self(Arc::new(map))
    }

    /// The sink of a profile.
    #[must_use]
    pub fn get(&self, profile: &str) -> Option<&AnySink> {
        self.0.get(profile)
    }
}
