//! The `s3` sink on aws-sdk-s3: a single PUT below the part size; above it a multipart upload
//! streamed in parts of `max(16 MiB, size / 9000)` (or the configured size) with a bounded
//! number in flight, each part checked in transit by its CRC32C (or Content-MD5, per profile).
//! A part's bytes are read only once a slot is free for it, so memory stays at about
//! `part size × parts in flight` whatever the object's size.
//! Checksums are computed by creel, not by the SDK (only when an operation requires them), and
//! bodies are plain (not `aws-chunked`), which is what S3-compatible stores such as Aliyun OSS
//! accept.

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart};
use base64::Engine;
use bytes::{Bytes, BytesMut};
use creel_core::config::{PartChecksum, S3Profile};
use md5::{Digest, Md5};
use tokio::task::JoinSet;

use std::collections::{BTreeMap, HashMap};

use md5::digest::common::hazmat::SerializableState;

use crate::sink::{FinishedPart, ObjectMeta, Sink, Upload, UploadCheckpoint};
use crate::{ObjectKey, StorageError, StoredObject};

const MIB: u64 = 1 << 20;
/// The smallest default part: S3 needs ≥ 5 MiB for all but the last part; 16 MiB keeps the
/// request count low.
const MIN_DEFAULT_PART: u64 = 16 * MIB;
/// S3 allows 10,000 parts; 9,000 leaves room for a source that is longer than announced.
const PART_COUNT_TARGET: u64 = 9000;

/// An S3 (or S3-compatible) bucket.
#[derive(Debug, Clone)]
pub struct S3Sink {
    client: Client,
    bucket: String,
    prefix: String,
    part_size: Option<u64>,
    parts_in_flight: usize,
    part_checksum: PartChecksum,
    endpoint: String,
}

impl S3Sink {
    /// A sink for a profile: static credentials if given, else the default AWS chain.
    pub async fn new(p: &S3Profile) -> Self {
        Self::build(p, None).await
    }

    /// Like [`S3Sink::new`], with the SDK's HTTP client supplied (a proxy, a custom resolver).
    pub async fn with_http_client(
        p: &S3Profile,
        http: aws_sdk_s3::config::SharedHttpClient,
    ) -> Self {
        Self::build(p, Some(http)).await
    }

    async fn build(p: &S3Profile, http: Option<aws_sdk_s3::config::SharedHttpClient>) -> Self {
        let mut b = match (&p.access_key_id, &p.secret_access_key) {
            (Some(ak), Some(sk)) => aws_sdk_s3::config::Builder::new()
                .behavior_version(BehaviorVersion::latest())
                .credentials_provider(Credentials::new(
                    ak,
                    sk.expose(),
                    None,
                    None,
                    "creel-config",
                )),
            _ => {
                let shared = aws_config::defaults(BehaviorVersion::latest())
                    .region(Region::new(p.region.clone()))
                    .load()
                    .await;
                aws_sdk_s3::config::Builder::from(&shared)
            }
        };
        b = b
            .region(Region::new(p.region.clone()))
            .force_path_style(p.path_style)
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        if let Some(endpoint) = &p.endpoint {
            b = b.endpoint_url(endpoint);
        }
        if let Some(http) = http {
            b = b.http_client(http);
        }
        Self {
            client: Client::from_conf(b.build()),
            bucket: p.bucket.clone(),
            prefix: p.prefix.clone(),
            part_size: p.part_size_mib.map(|m| m * MIB),
            parts_in_flight: p.parts_in_flight.max(1),
            part_checksum: p.part_checksum,
            endpoint: p.endpoint.clone().unwrap_or_else(|| "s3".to_owned()),
        }
    }

    /// The SDK client (for tests and the sweep).
    #[must_use]
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The bucket.
    #[must_use]
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The prefix prepended to every object key.
    #[must_use]
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Continues a multipart upload from a checkpoint: its finished parts are kept, the MD5
    /// state is restored, and the next byte written is the one at `checkpoint.offset`. Parts the
    /// store already holds beyond the checkpoint (finished after it was saved, before a crash)
    /// are listed (ListParts) and not sent again when the same bytes come round.
    pub async fn resume_upload(
        &self,
        key: &ObjectKey,
        meta: &ObjectMeta,
        cp: &UploadCheckpoint,
    ) -> Result<S3Upload, StorageError> {
        let state = hex::decode(&cp.md5_state)
            .map_err(|e| StorageError::protocol(format!("checkpoint MD5 state: {e}")))?;
        let state = md5::digest::common::hazmat::SerializedState::<Md5>::try_from(&state[..])
            .map_err(|_| StorageError::protocol("checkpoint MD5 state has the wrong size"))?;
        let md5 = Md5::deserialize(&state)
            .map_err(|_| StorageError::protocol("checkpoint MD5 state does not load"))?;
        let last = cp.parts.last().map_or(0, |p| p.number);
        let part_size = usize::try_from(cp.part_size).unwrap_or(usize::MAX);
        let stored = self.stored_parts(key, &cp.upload_id, last).await?;
        Ok(S3Upload {
            sink: self.clone(),
            key: key.clone(),
            object: format!("{}{}", self.prefix, key.as_str()),
            meta: meta.clone(),
            part_size,
            buffer: BytesMut::with_capacity(part_size),
            upload_id: Some(cp.upload_id.clone()),
            next_part: last + 1,
            in_flight: JoinSet::new(),
            completed: cp.parts.iter().map(|p| (p.number, p.clone())).collect(),
            part_checksum: cp.part_checksum,
            stored,
            boundaries: BTreeMap::from([(last, (cp.offset, state.to_vec()))]),
            held: None,
            part_crc: 0,
            md5,
            bytes: cp.offset,
            sent: HashMap::new(),
            spare: Vec::new(),
        })
    }

    /// Parts after `after` that the store holds for the upload: number → (ETag, size). A listing
    /// that fails means the upload cannot be confirmed to exist (it may have been completed or
    /// aborted since the checkpoint): the caller starts over.
    async fn stored_parts(
        &self,
        key: &ObjectKey,
        upload_id: &str,
        after: i32,
    ) -> Result<BTreeMap<i32, (String, i64)>, StorageError> {
        let object = format!("{}{}", self.prefix, key.as_str());
        let mut found = BTreeMap::new();
        let mut marker = Some(after.to_string());
        while let Some(m) = marker.take() {
            let page = self
                .client
                .list_parts()
                .bucket(&self.bucket)
                .key(&object)
                .upload_id(upload_id)
                .part_number_marker(m)
                .send()
                .await;
            let page = page.map_err(|e| StorageError::remote("ListParts", &e))?;
            for p in page.parts() {
                if let (Some(n), Some(etag), Some(size)) = (p.part_number(), p.e_tag(), p.size())
                    && n > after
                {
                    found.insert(n, (etag.to_owned(), size));
                }
            }
            if page.is_truncated() == Some(true) {
                marker = page.next_part_number_marker().map(str::to_owned);
            }
        }
        Ok(found)
    }

    /// Aborts a multipart upload of `key` (one a checkpoint names that will not be resumed).
    pub async fn abort_upload(&self, key: &ObjectKey, upload_id: &str) {
        let object = format!("{}{}", self.prefix, key.as_str());
        let r = self
            .client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(&object)
            .upload_id(upload_id)
            .send()
            .await;
        if let Err(e) = r {
            tracing::warn!(%object, %upload_id, error = %e, "could not abort a stale multipart upload; a sweep will");
        }
    }

    fn part_size_for(&self, size: Option<u64>) -> u64 {
        self.part_size
            .unwrap_or_else(|| MIN_DEFAULT_PART.max(size.unwrap_or(0).div_ceil(PART_COUNT_TARGET)))
    }
}

/// One object being written to S3.
#[derive(Debug)]
pub struct S3Upload {
    sink: S3Sink,
    key: ObjectKey,
    object: String,
    meta: ObjectMeta,
    part_size: usize,
    buffer: BytesMut,
    upload_id: Option<String>,
    next_part: i32,
    in_flight: JoinSet<Result<FinishedPart, StorageError>>,
    /// Finished parts by number.
    completed: BTreeMap<i32, FinishedPart>,
    /// The check every part of this upload carries.
    part_checksum: PartChecksum,
    /// Parts the store held beyond the checkpoint when the upload was resumed.
    stored: BTreeMap<i32, (String, i64)>,
    /// For each part sent: the object offset at its end and the MD5 state there (part 0: the
    /// start, recorded when the upload is created).
    boundaries: BTreeMap<i32, (u64, Vec<u8>)>,
    /// The first part, held back after CreateMultipartUpload until the next write (or
    /// finish), so the caller can save a checkpoint naming the upload before any part is
    /// sent: a crash then leaves no upload that no checkpoint names.
    held: Option<(i32, Part)>,
    /// The CRC32C of the part being filled, when parts are checked by CRC32C: computed as
    /// each chunk arrives (in cache), not in a second pass over the part.
    part_crc: u32,
    md5: Md5,
    bytes: u64,
    /// The parts in flight, by number: kept (a reference, not a copy) so that their buffers,
    /// once the store has them, can take the next parts instead of fresh allocations. A fresh
    /// 16 MiB buffer per part cost about a fifth of a transfer's CPU in page faults (the
    /// allocator hands such sizes back to the system at once).
    sent: HashMap<i32, Bytes>,
    /// Buffers of stored parts, ready for the next ones.
    spare: Vec<BytesMut>,
}

impl Sink for S3Sink {
    type Upload = S3Upload;

    async fn resume(
        &self,
        key: &ObjectKey,
        meta: &ObjectMeta,
        checkpoint: &UploadCheckpoint,
    ) -> Option<Result<S3Upload, StorageError>> {
        Some(self.resume_upload(key, meta, checkpoint).await)
    }

    async fn discard(&self, key: &ObjectKey, checkpoint: &UploadCheckpoint) {
        self.abort_upload(key, &checkpoint.upload_id).await;
    }

    async fn leftovers(&self) -> Result<Vec<crate::Leftover>, StorageError> {
        self.open_uploads().await
    }

    async fn remove_leftover(&self, leftover: &crate::Leftover) -> Result<(), StorageError> {
        self.abort_open_upload(&leftover.key, &leftover.upload_id)
            .await
    }

    async fn begin(
        &self,
        key: &ObjectKey,
        size: Option<u64>,
        meta: &ObjectMeta,
    ) -> Result<S3Upload, StorageError> {
        let part_size = usize::try_from(self.part_size_for(size)).unwrap_or(usize::MAX);
        Ok(S3Upload {
            sink: self.clone(),
            key: key.clone(),
            object: format!("{}{}", self.prefix, key.as_str()),
            meta: meta.clone(),
            part_size,
            buffer: BytesMut::with_capacity(part_size),
            upload_id: None,
            next_part: 1,
            in_flight: JoinSet::new(),
            completed: BTreeMap::new(),
            part_checksum: self.part_checksum,
            stored: BTreeMap::new(),
            boundaries: BTreeMap::new(),
            held: None,
            part_crc: 0,
            md5: Md5::new(),
            bytes: 0,
            sent: HashMap::new(),
            spare: Vec::new(),
        })
    }
}

/// A filled part, ready to send.
#[derive(Debug)]
struct Part {
    data: Bytes,
    /// Its CRC32C (0 when parts are checked by MD5).
    crc32c: u32,
}

/// The in-transit check of one body, as its header value (base64).
enum BodyCheck {
    Md5(String),
    Crc32c(String),
}

impl BodyCheck {
    fn of(kind: PartChecksum, part: &Part) -> Self {
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
        match kind {
            PartChecksum::Md5 => Self::Md5(b64(&Md5::digest(&part.data))),
            PartChecksum::Crc32c => Self::Crc32c(b64(&part.crc32c.to_be_bytes())),
        }
    }

    fn crc32c(&self) -> Option<String> {
        match self {
            Self::Md5(_) => None,
            Self::Crc32c(v) => Some(v.clone()),
        }
    }
}

impl S3Upload {
    async fn start_multipart(&mut self) -> Result<String, StorageError> {
        if let Some(id) = &self.upload_id {
            return Ok(id.clone());
        }
        let mut req = self
            .sink
            .client
            .create_multipart_upload()
            .bucket(&self.sink.bucket)
            .key(&self.object);
        if let Some(src) = &self.meta.source {
            req = req.metadata("creel-source", src);
        }
        if let Some(md5) = &self.meta.md5 {
            req = req.metadata("creel-md5", md5);
        }
        if self.part_checksum == PartChecksum::Crc32c {
            req = req.checksum_algorithm(ChecksumAlgorithm::Crc32C);
        }
        let out = req
            .send()
            .await
            .map_err(|e| StorageError::remote("CreateMultipartUpload", &e))?;
        tracing::debug!(object = %self.object, "CreateMultipartUpload");
        let id = out
            .upload_id()
            .ok_or_else(|| StorageError::protocol("CreateMultipartUpload returned no upload id"))?
            .to_owned();
        self.upload_id = Some(id.clone());
        // A checkpoint can name the upload from now on: nothing of it is stored yet.
        self.boundaries
            .insert(0, (0, Md5::new().serialize().to_vec()));
        Ok(id)
    }

    /// Whether the object now stored under this upload's key is what this upload makes: its
    /// length is the bytes written and either its ETag is the multipart ETag of this upload's
    /// parts or its recorded `creel-md5` is the MD5 known beforehand.
    async fn is_complete(&self, expected_etag: Option<&str>) -> bool {
        let head = self
            .sink
            .client
            .head_object()
            .bucket(&self.sink.bucket)
            .key(&self.object)
            .send()
            .await;
        let Ok(head) = head else {
            return false;
        };
        let length = head.content_length().and_then(|l| u64::try_from(l).ok());
        let etag = head
            .e_tag()
            .map(|e| e.trim_matches('"').to_ascii_lowercase());
        let md5 = head.metadata().and_then(|m| m.get("creel-md5"));
        let same_parts = etag.is_some() && etag.as_deref() == expected_etag;
        let same_md5 = md5.is_some() && md5 == self.meta.md5.as_ref();
        length == Some(self.bytes) && (same_parts || same_md5)
    }

    /// A part the store already holds with exactly these bytes (same size, ETag = their MD5).
    fn already_stored(&mut self, number: i32, part: &Part) -> Option<FinishedPart> {
        let (etag, size) = self.stored.remove(&number)?;
        let md5 = hex::encode(Md5::digest(&part.data));
        if usize::try_from(size).ok() != Some(part.data.len())
            || !etag.trim_matches('"').eq_ignore_ascii_case(&md5)
        {
            return None;
        }
        Some(FinishedPart {
            number,
            etag,
            crc32c: BodyCheck::of(self.part_checksum, part).crc32c(),
        })
    }

    /// Takes the next part (its bytes end at the current offset): the first part of a new
    /// upload is held back (see `held`), any other is sent after the held one.
    async fn send_part(&mut self, part: Part) -> Result<(), StorageError> {
        let creating = self.upload_id.is_none();
        let upload_id = self.start_multipart().await?;
        let number = self.next_part;
        self.next_part += 1;
        self.boundaries
            .insert(number, (self.bytes, self.md5.serialize().to_vec()));
        if creating {
            self.held = Some((number, part));
            return Ok(());
        }
        self.send_held(&upload_id).await?;
        self.dispatch(number, part, upload_id).await
    }

    /// Sends the held first part, if one is held.
    async fn send_held(&mut self, upload_id: &str) -> Result<(), StorageError> {
        match self.held.take() {
            Some((number, part)) => self.dispatch(number, part, upload_id.to_owned()).await,
            None => Ok(()),
        }
    }

    /// Sends part `number` unless the store already holds it, waiting first if the most parts
    /// allowed are in flight.
    async fn dispatch(
        &mut self,
        number: i32,
        part: Part,
        upload_id: String,
    ) -> Result<(), StorageError> {
        if let Some(finished) = self.already_stored(number, &part) {
            self.completed.insert(number, finished);
            return Ok(());
        }
        while self.in_flight.len() >= self.sink.parts_in_flight {
            self.collect_one().await?;
        }
        // An event of the transfer's span per part (debug: traced, not logged at info).
        tracing::debug!(part = number, bytes = part.data.len(), "UploadPart");
        let (client, bucket, object) = (
            self.sink.client.clone(),
            self.sink.bucket.clone(),
            self.object.clone(),
        );
        self.sent.insert(number, part.data.clone());
        let kind = self.part_checksum;
        // In the transfer's span: the retried-part events count by its storage profile.
        let span = tracing::Span::current();
        self.in_flight.spawn(tracing::Instrument::instrument(
            async move {
                // MD5, when asked for, off the read path.
                let check = BodyCheck::of(kind, &part);
                let crc32c = check.crc32c();
                let data = part.data;
                let req = client
                    .upload_part()
                    .bucket(bucket)
                    .key(object)
                    .upload_id(upload_id)
                    .part_number(number)
                    .content_length(i64::try_from(data.len()).unwrap_or(i64::MAX))
                    .body(ByteStream::from(data));
                let req = match check {
                    BodyCheck::Md5(v) => req.content_md5(v),
                    BodyCheck::Crc32c(v) => req.checksum_crc32_c(v),
                };
                let out = req
                    .customize()
                    // The part's own check already protects it; SigV4's SHA-256 of the payload
                    // would hash every byte once more.
                    .disable_payload_signing()
                    .interceptor(crate::part_retries::PartRetries { part: number })
                    .send()
                    .await
                    // Create (or ListParts, on resume) just succeeded: a refused part means the
                    // upload is gone (completed or aborted by an attempt that outlived its lease)
                    // or the part was damaged on the way; a fresh attempt may succeed either way.
                    .map_err(|e| StorageError::remote("UploadPart", &e).transient())?;
                let etag = out
                    .e_tag()
                    .map(str::to_owned)
                    .ok_or_else(|| StorageError::protocol("UploadPart returned no ETag"))?;
                Ok(FinishedPart {
                    number,
                    etag,
                    crc32c,
                })
            },
            span,
        ));
        // Record parts that already finished, so checkpoints move on while streaming.
        while let Some(joined) = self.in_flight.try_join_next() {
            self.record(joined)?;
        }
        Ok(())
    }

    fn record(
        &mut self,
        joined: Result<Result<FinishedPart, StorageError>, tokio::task::JoinError>,
    ) -> Result<(), StorageError> {
        let part = joined
            .map_err(|e| StorageError::protocol(format!("a part upload task failed: {e}")))??;
        tracing::debug!(part = part.number, "part stored");
        // The store has the part and the SDK has let go of it: its buffer takes a later part.
        if let Some(data) = self.sent.remove(&part.number)
            && let Ok(buffer) = data.try_into_mut()
        {
            self.spare.push(buffer);
        }
        self.completed.insert(part.number, part);
        Ok(())
    }

    /// An empty buffer for the next part: a stored part's, else one exact allocation (growing
    /// by doubling would overshoot the part size).
    fn next_buffer(&mut self) -> BytesMut {
        while let Some(mut buffer) = self.spare.pop() {
            buffer.clear();
            if buffer.capacity() >= self.part_size {
                return buffer;
            }
        }
        BytesMut::with_capacity(self.part_size)
    }

    /// The filled bytes as a part, with their CRC32C; the next part starts empty.
    fn take_part(&mut self) -> Part {
        Part {
            data: self.buffer.split().freeze(),
            crc32c: std::mem::take(&mut self.part_crc),
        }
    }

    async fn collect_one(&mut self) -> Result<(), StorageError> {
        if let Some(joined) = self.in_flight.join_next().await {
            self.record(joined)?;
        }
        Ok(())
    }
}

impl Upload for S3Upload {
    async fn write(&mut self, chunk: Bytes) -> Result<(), StorageError> {
        // Hash up to each part boundary exactly, so the MD5 state saved with a part is the
        // state at its end.
        let mut rest = &chunk[..];
        while !rest.is_empty() {
            let take = rest.len().min(self.part_size - self.buffer.len());
            self.md5.update(&rest[..take]);
            if self.part_checksum == PartChecksum::Crc32c {
                self.part_crc = crc32c::crc32c_append(self.part_crc, &rest[..take]);
            }
            self.buffer.extend_from_slice(&rest[..take]);
            self.bytes += take as u64;
            rest = &rest[take..];
            if self.buffer.len() == self.part_size {
                let part = self.take_part();
                self.send_part(part).await?;
                // A slot for the next part before any of its bytes are read (rclone, too, takes
                // its token before it reads a chunk): at most `parts_in_flight` buffers, in
                // flight and filling together. The slot's part, once stored, leaves its buffer
                // spare for the next.
                while self.in_flight.len() >= self.sink.parts_in_flight {
                    self.collect_one().await?;
                }
                self.buffer = self.next_buffer();
            }
        }
        Ok(())
    }

    fn bytes(&self) -> u64 {
        self.bytes
    }

    fn md5_hex(&self) -> String {
        hex::encode(self.md5.clone().finalize())
    }

    fn checkpoint(&self) -> Option<UploadCheckpoint> {
        let upload_id = self.upload_id.clone()?;
        let mut parts = Vec::new();
        let mut n = 1;
        while let Some(part) = self.completed.get(&n) {
            parts.push(part.clone());
            n += 1;
        }
        let (offset, state) = self.boundaries.get(&(n - 1))?;
        Some(UploadCheckpoint {
            upload_id,
            part_size: self.part_size as u64,
            parts,
            offset: *offset,
            md5_state: hex::encode(state),
            part_checksum: self.part_checksum,
        })
    }

    async fn finish(mut self) -> Result<StoredObject, StorageError> {
        let location = format!("s3://{}/{}", self.sink.bucket, self.object);
        if self.upload_id.is_none() {
            let part = self.take_part();
            let check = BodyCheck::of(self.part_checksum, &part);
            let data = part.data;
            let mut req = self
                .sink
                .client
                .put_object()
                .bucket(&self.sink.bucket)
                .key(&self.object)
                .content_length(i64::try_from(data.len()).unwrap_or(i64::MAX))
                .body(ByteStream::from(data));
            req = match check {
                BodyCheck::Md5(v) => req.content_md5(v),
                BodyCheck::Crc32c(v) => req.checksum_crc32_c(v),
            };
            if let Some(src) = &self.meta.source {
                req = req.metadata("creel-source", src);
            }
            // The whole body is here: record the MD5 of what is sent.
            req = req.metadata("creel-md5", self.md5_hex());
            req.customize()
                .disable_payload_signing()
                .send()
                .await
                .map_err(|e| StorageError::remote("PutObject", &e))?;
            return Ok(StoredObject {
                key: self.key,
                location,
                bytes: self.bytes,
            });
        }
        let upload_id = self.upload_id.clone().unwrap_or_default();
        let mut sent = self.send_held(&upload_id).await;
        if sent.is_ok() && !self.buffer.is_empty() {
            let last = self.take_part();
            sent = self.send_part(last).await;
        }
        if let Err(e) = sent {
            self.abort().await;
            return Err(e);
        }
        while !self.in_flight.is_empty() {
            if let Err(e) = self.collect_one().await {
                self.abort().await;
                return Err(e);
            }
        }
        let finished = std::mem::take(&mut self.completed);
        let expected_etag = multipart_etag(finished.values());
        let parts: Vec<CompletedPart> = finished
            .into_values()
            .map(|p| {
                CompletedPart::builder()
                    .part_number(p.number)
                    .e_tag(p.etag)
                    .set_checksum_crc32_c(p.crc32c)
                    .build()
            })
            .collect();
        let completed = self
            .sink
            .client
            .complete_multipart_upload()
            .bucket(&self.sink.bucket)
            .key(&self.object)
            .upload_id(&upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await;
        if let Err(e) = completed {
            let err = StorageError::remote("CompleteMultipartUpload", &e);
            // The answer may be lost or unreadable while the object is whole (an answer that
            // does not parse, a connection cut after the store completed, an SDK retry that
            // meets NoSuchUpload): the object itself says whether it is this upload's.
            if self.is_complete(expected_etag.as_deref()).await {
                tracing::warn!(object = %self.object, error = %err, "CompleteMultipartUpload failed but the object is whole; accepting it");
                return Ok(StoredObject {
                    key: self.key,
                    location,
                    bytes: self.bytes,
                });
            }
            self.abort().await;
            // The parts were all accepted, so the store refused the upload itself (it may
            // have been completed or aborted meanwhile): a fresh attempt may succeed.
            return Err(err.transient());
        }
        tracing::debug!(endpoint = %self.sink.endpoint, object = %self.object, "multipart upload complete");
        Ok(StoredObject {
            key: self.key,
            location,
            bytes: self.bytes,
        })
    }

    async fn abort(mut self) {
        // Let parts in flight land first: a part the server is still writing when the upload
        // is aborted would outlive the abort and keep using storage (S3 documents the same).
        // At most `parts_in_flight` parts, each bounded by the part size.
        while self.in_flight.join_next().await.is_some() {}
        if let Some(id) = self.upload_id.take() {
            let r = self
                .sink
                .client
                .abort_multipart_upload()
                .bucket(&self.sink.bucket)
                .key(&self.object)
                .upload_id(&id)
                .send()
                .await;
            if let Err(e) = r {
                tracing::warn!(object = %self.object, upload_id = %id, error = %e, "could not abort a multipart upload; a sweep will");
            }
        }
    }
}

/// The ETag S3 gives a multipart object: the MD5 of its parts' binary MD5s, then `-<count>`
/// (lower-case hex). `None` if a part's ETag is not a plain MD5.
fn multipart_etag<'a>(parts: impl Iterator<Item = &'a FinishedPart>) -> Option<String> {
    let mut outer = Md5::new();
    let mut count = 0;
    for part in parts {
        let md5 = hex::decode(part.etag.trim_matches('"')).ok()?;
        if md5.len() != 16 {
            return None;
        }
        outer.update(&md5);
        count += 1;
    }
    Some(format!("{}-{count}", hex::encode(outer.finalize())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_checks_are_the_headers_s3_expects() {
        // CRC-32C check value of "123456789" is 0xE3069283; the header is its big-endian bytes
        // in base64. Content-MD5 of "" is the RFC 1864 example's format.
        let crc = BodyCheck::of(
            PartChecksum::Crc32c,
            &Part {
                data: Bytes::new(),
                crc32c: crc32c::crc32c(b"123456789"),
            },
        );
        assert_eq!(crc.crc32c().as_deref(), Some("4waSgw=="));
        let BodyCheck::Md5(md5) = BodyCheck::of(
            PartChecksum::Md5,
            &Part {
                data: Bytes::new(),
                crc32c: 0,
            },
        ) else {
            panic!("md5 asked for");
        };
        assert_eq!(md5, "1B2M2Y8AsgTpgAmY7PhCfg==");
    }

    #[test]
    fn the_multipart_etag_is_the_md5_of_the_part_md5s() {
        // Two parts "a" and "b": MD5s 0cc175b9… and 92eb5ffe…; the outer MD5 of their 32 bytes.
        let part = |number, body: &[u8]| FinishedPart {
            number,
            etag: format!("\"{}\"", hex::encode(Md5::digest(body))),
            crc32c: None,
        };
        let parts = [part(1, b"a"), part(2, b"b")];
        let mut both = Md5::digest(b"a").to_vec();
        both.extend_from_slice(&Md5::digest(b"b"));
        assert_eq!(
            multipart_etag(parts.iter()),
            Some(format!("{}-2", hex::encode(Md5::digest(&both))))
        );
        let odd = FinishedPart {
            number: 1,
            etag: "not-an-md5".into(),
            crc32c: None,
        };
        assert_eq!(multipart_etag([odd].iter()), None);
    }
}
