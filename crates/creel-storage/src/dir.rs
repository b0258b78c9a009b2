//! The `dir` sink: objects are files under a root directory. An upload writes a hidden
//! temporary file beside its destination and renames it into place after `fsync`, so a reader
//! never sees a partial file and a crash leaves at most a stray temporary file.

use std::path::{Path, PathBuf};

use tokio::io::AsyncWriteExt;

use bytes::Bytes;

use crate::sink::{ObjectMeta, Sink, Upload};
use crate::{ObjectKey, StorageError, StoredObject};

/// A local-directory sink.
#[derive(Debug, Clone)]
pub struct DirSink {
    root: PathBuf,
}

/// One object being written.
#[derive(Debug)]
pub struct DirUpload {
    key: ObjectKey,
    temp: PathBuf,
    dest: PathBuf,
    file: tokio::fs::File,
    bytes: u64,
    md5: md5::Md5,
}

fn io_err(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StorageError {
    let path = path.display().to_string();
    move |source| StorageError::Io { what, path, source }
}

impl DirSink {
    /// A sink writing under `root` (created on first use).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The directory objects are written under.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }
}

impl Sink for DirSink {
    type Upload = DirUpload;

    async fn leftovers(&self) -> Result<Vec<crate::Leftover>, StorageError> {
        self.partial_files().await
    }

    /// Deletes the temporary file (its path is the leftover's `upload_id`).
    async fn remove_leftover(&self, leftover: &crate::Leftover) -> Result<(), StorageError> {
        tokio::fs::remove_file(&leftover.upload_id)
            .await
            .map_err(|source| StorageError::Io {
                what: "removing",
                path: leftover.upload_id.clone(),
                source,
            })
    }

    async fn begin(
        &self,
        key: &ObjectKey,
        _size: Option<u64>,
        _meta: &ObjectMeta,
    ) -> Result<DirUpload, StorageError> {
        let dest = self.root.join(key.as_str());
        let parent = dest.parent().unwrap_or(&self.root).to_path_buf();
        tokio::fs::create_dir_all(&parent)
            .await
            .map_err(io_err("creating directory", &parent))?;
        let name = dest
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("object");
        let temp = parent.join(format!(".{name}.{:08x}.part", fastrand::u32(..)));
        let file = tokio::fs::File::create(&temp)
            .await
            .map_err(io_err("creating", &temp))?;
        Ok(DirUpload {
            key: key.clone(),
            temp,
            dest,
            file,
            bytes: 0,
            md5: md5::Digest::new(),
        })
    }
}

impl Upload for DirUpload {
    async fn write(&mut self, chunk: Bytes) -> Result<(), StorageError> {
        self.file
            .write_all(&chunk)
            .await
            .map_err(io_err("writing", &self.temp))?;
        md5::Digest::update(&mut self.md5, &chunk);
        self.bytes += chunk.len() as u64;
        Ok(())
    }

    fn bytes(&self) -> u64 {
        self.bytes
    }

    fn md5_hex(&self) -> String {
        hex::encode(md5::Digest::finalize(self.md5.clone()))
    }

    fn checkpoint(&self) -> Option<crate::UploadCheckpoint> {
        None
    }

    /// Flushes, syncs and renames the file into place.
    async fn finish(mut self) -> Result<StoredObject, StorageError> {
        self.file
            .flush()
            .await
            .map_err(io_err("flushing", &self.temp))?;
        self.file
            .sync_all()
            .await
            .map_err(io_err("syncing", &self.temp))?;
        tokio::fs::rename(&self.temp, &self.dest)
            .await
            .map_err(io_err("renaming into place", &self.dest))?;
        Ok(StoredObject {
            key: self.key,
            location: self.dest.display().to_string(),
            bytes: self.bytes,
        })
    }

    /// Throws the partial file away.
    async fn abort(self) {
        drop(self.file);
        let _ = tokio::fs::remove_file(&self.temp).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_object_appears_only_when_finished() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sink = DirSink::new(dir.path());
        let key = ObjectKey::parse("a/b/c.bin").expect("key");
        let mut up = sink
            .begin(&key, None, &ObjectMeta::default())
            .await
            .expect("begin");
        up.write(Bytes::from_static(b"hello "))
            .await
            .expect("write");
        up.write(Bytes::from_static(b"world")).await.expect("write");
        assert!(!dir.path().join("a/b/c.bin").exists());
        let stored = up.finish().await.expect("finish");
        assert_eq!(stored.bytes, 11);
        assert_eq!(
            std::fs::read(dir.path().join("a/b/c.bin")).expect("read"),
            b"hello world"
        );
        let left: Vec<_> = std::fs::read_dir(dir.path().join("a/b"))
            .expect("ls")
            .collect();
        assert_eq!(left.len(), 1, "no temporary file is left behind");
    }

    #[tokio::test]
    async fn an_aborted_upload_leaves_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sink = DirSink::new(dir.path());
        let mut up = sink
            .begin(
                &ObjectKey::parse("x.bin").expect("key"),
                None,
                &ObjectMeta::default(),
            )
            .await
            .expect("begin");
        up.write(Bytes::from_static(b"partial"))
            .await
            .expect("write");
        up.abort().await;
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 0);
    }
}
