//! Storage sinks: where creel writes a job's output. Each [`Sink`] takes a stream of chunks for
//! one object and makes it appear whole or not at all: [`DirSink`] (a local directory, the
//! embedded default) and [`S3Sink`] (S3 and S3-compatible stores, streaming multipart).
//! [`Sinks`] holds one per configured profile.

mod dir;
mod error;
mod key;
mod leftovers;
pub mod oss;
mod part_retries;
mod s3;
mod sink;

pub use dir::{DirSink, DirUpload};
pub use error::{HttpStatus, RemoteClass, StorageError};
pub use key::ObjectKey;
pub use leftovers::Leftover;
pub use s3::{S3Sink, S3Upload};
pub use sink::{
    AnySink, AnyUpload, FinishedPart, ObjectMeta, Sink, Sinks, Upload, UploadCheckpoint,
};

/// Where a finished object landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    /// The object key inside the profile.
    pub key: ObjectKey,
    /// Where to find it: a file path for `dir`, a URL for object stores.
    pub location: String,
    /// Its length in bytes.
    pub bytes: u64,
}
