//! Storage sinks: where creel writes a job's output. Each sink takes a stream of chunks for one
//! object and makes it appear whole or not at all. Today: [`DirSink`], a local directory (the
//! embedded default); S3 and Aliyun OSS come with the storage issue behind the same shape.

mod dir;
mod error;
mod key;

pub use dir::{DirSink, DirUpload};
pub use error::StorageError;
pub use key::ObjectKey;

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
