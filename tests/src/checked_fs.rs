//! s3s-fs with what the test server needs and s3s-fs 0.14 leaves out, so tests hold creel to
//! what S3 enforces: UploadPart checks the part's `Content-MD5` and `x-amz-checksum-crc32c`
//! (s3s-fs checks them only on PutObject), an upload created with CRC32C refuses parts without
//! it and a CompleteMultipartUpload whose parts do not repeat it, ListParts gives each part's
//! ETag in part order after the marker (s3s-fs gives sizes only), and ListMultipartUploads is
//! answered from s3s-fs's own files (`.bucket-<b64>.object-<b64>.upload-<id>.metadata.json`,
//! initiated = that file's modification time).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Mutex;

use base64::Engine;
use bytes::Bytes;
use futures::TryStreamExt;
use md5::{Digest, Md5};
use s3s::dto::{
    AbortMultipartUploadInput, AbortMultipartUploadOutput, ChecksumAlgorithm,
    CompleteMultipartUploadInput, CompleteMultipartUploadOutput, CreateBucketInput,
    CreateBucketOutput, CreateMultipartUploadInput, CreateMultipartUploadOutput, DeleteObjectInput,
    DeleteObjectOutput, GetObjectInput, GetObjectOutput, HeadBucketInput, HeadBucketOutput,
    HeadObjectInput, HeadObjectOutput, ListBucketsInput, ListBucketsOutput,
    ListMultipartUploadsInput, ListMultipartUploadsOutput, ListObjectsV2Input, ListObjectsV2Output,
    ListPartsInput, ListPartsOutput, MultipartUpload, PutObjectInput, PutObjectOutput,
    StreamingBlob, UploadPartInput, UploadPartOutput,
};
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};

/// s3s-fs plus part checks and upload listing.
pub struct CheckedFs {
    inner: s3s_fs::FileSystem,
    root: PathBuf,
    /// Uploads created with `x-amz-checksum-algorithm: CRC32C`.
    crc_uploads: Mutex<HashSet<String>>,
    /// (upload, part) → the CRC32C the part arrived with.
    part_crcs: Mutex<HashMap<(String, i32), String>>,
}

impl std::fmt::Debug for CheckedFs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckedFs")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

impl CheckedFs {
    /// Serves the directory `root` (one sub-directory per bucket).
    ///
    /// # Panics
    /// If s3s-fs cannot open `root`.
    #[must_use]
    pub fn new(root: PathBuf) -> Self {
        Self {
            inner: s3s_fs::FileSystem::new(&root).expect("s3s-fs"),
            root,
            crc_uploads: Mutex::default(),
            part_crcs: Mutex::default(),
        }
    }

    /// Open uploads of `bucket` whose key starts with `prefix`, as (key, upload id, initiated),
    /// sorted by key then upload id.
    fn open_uploads(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> Vec<(String, String, std::time::SystemTime)> {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let decode = |s: &str| b64.decode(s).ok().and_then(|v| String::from_utf8(v).ok());
        let mut found = Vec::new();
        let Ok(dir) = std::fs::read_dir(&self.root) else {
            return found;
        };
        for entry in dir.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(rest) = name
                .strip_prefix(".bucket-")
                .and_then(|r| r.strip_suffix(".metadata.json"))
            else {
                continue;
            };
            let Some((b, rest)) = rest.split_once(".object-") else {
                continue;
            };
            let Some((k, upload_id)) = rest.split_once(".upload-") else {
                continue;
            };
            let (Some(b), Some(k)) = (decode(b), decode(k)) else {
                continue;
            };
            if b != bucket || !k.starts_with(prefix) {
                continue;
            }
            let initiated = entry
                .metadata()
                .and_then(|m| m.modified())
                .unwrap_or(std::time::UNIX_EPOCH);
            found.push((k, upload_id.to_owned(), initiated));
        }
        found.sort();
        found
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[async_trait::async_trait]
impl S3 for CheckedFs {
    async fn upload_part(
        &self,
        mut req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let body = req
            .input
            .body
            .take()
            .ok_or_else(|| s3_error!(IncompleteBody))?;
        let bytes: Vec<Bytes> = body
            .try_collect()
            .await
            .map_err(|e| s3_error!(IncompleteBody, "reading the part: {e}"))?;
        let data: Bytes = bytes.concat().into();
        if let Some(md5) = &req.input.content_md5
            && *md5 != b64(&Md5::digest(&data))
        {
            return Err(s3_error!(BadDigest, "Content-MD5 does not match the part"));
        }
        let crc = b64(&crc32c::crc32c(&data).to_be_bytes());
        let upload = req.input.upload_id.clone();
        match &req.input.checksum_crc32c {
            Some(sent) if *sent != crc => {
                return Err(s3_error!(
                    BadDigest,
                    "x-amz-checksum-crc32c does not match the part"
                ));
            }
            None if self.crc_uploads.lock().expect("lock").contains(&upload) => {
                return Err(s3_error!(
                    InvalidRequest,
                    "the upload was created with CRC32C; the part must carry x-amz-checksum-crc32c"
                ));
            }
            _ => {}
        }
        let part = req.input.part_number;
        req.input.body = Some(StreamingBlob::wrap(futures::stream::iter([Ok::<
            _,
            std::io::Error,
        >(data)])));
        let out = self.inner.upload_part(req).await?;
        self.part_crcs
            .lock()
            .expect("lock")
            .insert((upload, part), crc);
        Ok(out)
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let crc = req
            .input
            .checksum_algorithm
            .as_ref()
            .is_some_and(|a| a.as_str() == ChecksumAlgorithm::CRC32C);
        let out = self.inner.create_multipart_upload(req).await?;
        if crc && let Some(id) = &out.output.upload_id {
            self.crc_uploads.lock().expect("lock").insert(id.clone());
        }
        Ok(out)
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let upload = req.input.upload_id.clone();
        if self.crc_uploads.lock().expect("lock").contains(&upload) {
            let crcs = self.part_crcs.lock().expect("lock").clone();
            let parts = req
                .input
                .multipart_upload
                .as_ref()
                .and_then(|m| m.parts.clone())
                .unwrap_or_default();
            for p in &parts {
                let number = p.part_number.unwrap_or(0);
                let stored = crcs.get(&(upload.clone(), number));
                if p.checksum_crc32c.is_none() || p.checksum_crc32c.as_ref() != stored {
                    return Err(s3_error!(
                        InvalidPart,
                        "part {number} does not repeat the CRC32C it was uploaded with"
                    ));
                }
            }
        }
        self.inner.complete_multipart_upload(req).await
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let input = req.input;
        let prefix = input.prefix.clone().unwrap_or_default();
        let max = usize::try_from(input.max_uploads.unwrap_or(1000).clamp(1, 1000)).unwrap_or(1000);
        let after = (
            input.key_marker.clone().unwrap_or_default(),
            input.upload_id_marker.clone().unwrap_or_default(),
        );
        let all: Vec<_> = self
            .open_uploads(&input.bucket, &prefix)
            .into_iter()
            .filter(|(k, id, _)| after.0.is_empty() || (k.clone(), id.clone()) > after)
            .collect();
        let truncated = all.len() > max;
        let page: Vec<_> = all.into_iter().take(max).collect();
        let last = page.last().map(|(k, id, _)| (k.clone(), id.clone()));
        let uploads = page
            .into_iter()
            .map(|(key, upload_id, initiated)| MultipartUpload {
                key: Some(key),
                upload_id: Some(upload_id),
                initiated: Some(initiated.into()),
                ..MultipartUpload::default()
            })
            .collect();
        Ok(S3Response::new(ListMultipartUploadsOutput {
            bucket: Some(input.bucket),
            prefix: input.prefix,
            key_marker: input.key_marker,
            upload_id_marker: input.upload_id_marker,
            max_uploads: input.max_uploads,
            is_truncated: Some(truncated),
            next_key_marker: last.as_ref().filter(|_| truncated).map(|l| l.0.clone()),
            next_upload_id_marker: last.filter(|_| truncated).map(|l| l.1),
            uploads: Some(uploads),
            ..ListMultipartUploadsOutput::default()
        }))
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        self.inner.abort_multipart_upload(req).await
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        // s3s-fs lists sizes only, unsorted, and ignores the marker; S3 gives each part's ETag
        // (its MD5) in part order after `part-number-marker`.
        let upload = req.input.upload_id.clone();
        let after = req.input.part_number_marker.unwrap_or(0);
        // S3 answers NoSuchUpload for an upload that was completed or aborted; s3s-fs lists
        // nothing.
        let open = self
            .open_uploads(&req.input.bucket, &req.input.key)
            .into_iter()
            .any(|(k, id, _)| k == req.input.key && id == upload);
        if !open {
            return Err(s3_error!(NoSuchUpload));
        }
        let mut out = self.inner.list_parts(req).await?;
        let mut parts = out.output.parts.take().unwrap_or_default();
        parts.retain(|p| p.part_number.unwrap_or(0) > after);
        parts.sort_by_key(|p| p.part_number);
        for p in &mut parts {
            let file = self.root.join(format!(
                ".upload_id-{upload}.part-{}",
                p.part_number.unwrap_or(0)
            ));
            if let Ok(bytes) = std::fs::read(&file) {
                p.e_tag = Some(s3s::dto::ETag::Strong(hex::encode(Md5::digest(&bytes))));
            }
        }
        out.output.parts = Some(parts);
        out.output.is_truncated = Some(false);
        Ok(out)
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        self.inner.put_object(req).await
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        self.inner.get_object(req).await
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        self.inner.head_object(req).await
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        self.inner.delete_object(req).await
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        self.inner.list_objects_v2(req).await
    }

    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        self.inner.create_bucket(req).await
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.inner.head_bucket(req).await
    }

    async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        self.inner.list_buckets(req).await
    }
}
