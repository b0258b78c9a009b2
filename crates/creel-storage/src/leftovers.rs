//! What interrupted writes leave in a store, listed so a sweep can remove it: open multipart
//! uploads in a bucket (they keep costing storage until aborted) and `.part` temporary files in
//! a directory. Deciding which ones to remove (age, whether a live job still owns one) is the
//! caller's: see `creel storage sweep`.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::{DirSink, S3Sink, StorageError};

/// One leftover: an open multipart upload, or a directory sink's temporary file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftover {
    /// The object it was writing: the full object key in the bucket (with the profile's
    /// prefix), or the temporary file's path relative to the directory.
    pub key: String,
    /// The multipart upload id; for a directory, the temporary file's path.
    pub upload_id: String,
    /// When the upload was initiated (the file's last modification for a directory).
    pub initiated: SystemTime,
}

impl S3Sink {
    /// Open multipart uploads under the profile's prefix (ListMultipartUploads, every page).
    ///
    /// # Errors
    /// The listing failed.
    pub async fn open_uploads(&self) -> Result<Vec<Leftover>, StorageError> {
        let mut found = Vec::new();
        let (mut key_marker, mut id_marker) = (None::<String>, None::<String>);
        loop {
            let out = self
                .client()
                .list_multipart_uploads()
                .bucket(self.bucket())
                .prefix(self.prefix())
                .set_key_marker(key_marker.take())
                .set_upload_id_marker(id_marker.take())
                .send()
                .await
                .map_err(|e| StorageError::remote("ListMultipartUploads", &e))?;
            for u in out.uploads() {
                let (Some(key), Some(id)) = (u.key(), u.upload_id()) else {
                    continue;
                };
                let initiated = u
                    .initiated()
                    .and_then(|t| SystemTime::try_from(*t).ok())
                    .unwrap_or(SystemTime::UNIX_EPOCH);
                found.push(Leftover {
                    key: key.to_owned(),
                    upload_id: id.to_owned(),
                    initiated,
                });
            }
            if out.is_truncated() != Some(true) {
                return Ok(found);
            }
            key_marker = out.next_key_marker().map(str::to_owned);
            id_marker = out.next_upload_id_marker().map(str::to_owned);
            if key_marker.is_none() {
                return Err(StorageError::protocol(
                    "ListMultipartUploads is truncated but names no next key marker",
                ));
            }
        }
    }

    /// Aborts the multipart upload `upload_id` of the object `key` (the full key, prefix
    /// included, as [`S3Sink::open_uploads`] gives it).
    ///
    /// # Errors
    /// The store refused or could not be reached.
    pub async fn abort_open_upload(&self, key: &str, upload_id: &str) -> Result<(), StorageError> {
        self.client()
            .abort_multipart_upload()
            .bucket(self.bucket())
            .key(key)
            .upload_id(upload_id)
            .send()
            .await
            .map_err(|e| StorageError::remote("AbortMultipartUpload", &e))?;
        Ok(())
    }
}

impl DirSink {
    /// The `.part` temporary files under the directory (a missing directory has none).
    ///
    /// # Errors
    /// A directory could not be read.
    pub async fn partial_files(&self) -> Result<Vec<Leftover>, StorageError> {
        let root = self.root().to_path_buf();
        tokio::task::spawn_blocking(move || {
            let mut found = Vec::new();
            collect_partials(&root, &root, &mut found)?;
            Ok(found)
        })
        .await
        .map_err(|e| StorageError::protocol(format!("listing task failed: {e}")))?
    }
}

fn collect_partials(
    root: &Path,
    dir: &Path,
    found: &mut Vec<Leftover>,
) -> Result<(), StorageError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(StorageError::Io {
                what: "listing",
                path: dir.display().to_string(),
                source,
            });
        }
    };
    for entry in entries.flatten() {
        let path: PathBuf = entry.path();
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() {
            collect_partials(root, &path, found)?;
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') && name.ends_with(".part") {
            let relative = path.strip_prefix(root).unwrap_or(&path);
            found.push(Leftover {
                key: relative.display().to_string(),
                upload_id: path.display().to_string(),
                initiated: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            });
        }
    }
    Ok(())
}
