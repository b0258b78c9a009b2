//! The videos the simulated vendors hand out: deterministic bytes of a configured size (any
//! byte can be computed from its offset, so `Range` requests cost nothing), the MD5 the vendor
//! reports, and signed URLs that expire (`t=` is the hex Unix expiry, as in the real ones).

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use md5::{Digest, Md5};

/// One video file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimFile {
    /// Its id in URLs.
    pub id: String,
    /// Its length in bytes.
    pub size: u64,
    /// The seed its bytes derive from.
    pub seed: u64,
    /// Lowercase hex MD5 of the bytes (what the vendor reports as `file_md5`).
    pub md5: String,
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Writes the bytes of the file with `seed` starting at `offset` into `buf`.
pub fn fill(seed: u64, offset: u64, buf: &mut [u8]) {
    for (i, b) in buf.iter_mut().enumerate() {
        let at = offset + i as u64;
        let word = splitmix(seed ^ (at / 8)).to_le_bytes();
        *b = word[(at % 8) as usize];
    }
}

impl SimFile {
    /// A file of `size` bytes whose content derives from `seed`; computes its MD5.
    #[must_use]
    pub fn new(id: impl Into<String>, size: u64, seed: u64) -> Self {
        let mut md5 = Md5::new();
        let mut buf = vec![0_u8; 64 * 1024];
        let mut at = 0;
        while at < size {
            let n = (size - at).min(buf.len() as u64) as usize;
            fill(seed, at, &mut buf[..n]);
            md5.update(&buf[..n]);
            at += n as u64;
        }
        Self {
            id: id.into(),
            size,
            seed,
            md5: hex::encode(md5.finalize()),
        }
    }
}

/// The URL signature: MD5 of `id-t-secret` (the simulator's own secret).
#[must_use]
pub fn url_sign(id: &str, t_hex: &str, secret: &str) -> String {
    hex::encode(Md5::digest(format!("{id}-{t_hex}-{secret}").as_bytes()))
}

/// A signed download URL for `file` valid until `expires_unix`.
#[must_use]
pub fn signed_url(base: &str, file: &SimFile, expires_unix: u64, secret: &str) -> String {
    let t = format!("{expires_unix:x}");
    let sign = url_sign(&file.id, &t, secret);
    format!("{base}/files/{}.mp4?t={t}&sign={sign}", file.id)
}

/// The URL's expiry time relative to now: how long until it is refused.
#[must_use]
pub fn remaining(expires_unix: u64, now_unix: u64) -> Duration {
    Duration::from_secs(expires_unix.saturating_sub(now_unix))
}

/// A `Range` that no byte of the representation satisfies (answer 416).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsatisfiable;

/// The one byte-range reader of the simulator's files and creel's sample server: a single
/// `bytes=` range (`a-b`, `a-`, `-n`) against `size`, as the inclusive `(first, last)` byte.
/// `Ok(None)` when there is no `Range`, it is not a single byte range, or `If-Range` names
/// another version than `etag` (the whole body is the answer then).
///
/// # Errors
/// The range starts past the end or ends before it starts.
pub fn requested_range(
    headers: &HeaderMap,
    size: u64,
    etag: &str,
) -> Result<Option<(u64, u64)>, Unsatisfiable> {
    parse_range(headers, size, etag).map_err(|()| Unsatisfiable)
}

fn parse_range(headers: &HeaderMap, size: u64, etag: &str) -> Result<Option<(u64, u64)>, ()> {
    let Some(raw) = headers.get(header::RANGE).and_then(|v| v.to_str().ok()) else {
        return Ok(None);
    };
    if let Some(if_range) = headers.get(header::IF_RANGE).and_then(|v| v.to_str().ok())
        && if_range != etag
    {
        return Ok(None);
    }
    let Some(spec) = raw.strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let (a, b) = spec.split_once('-').ok_or(())?;
    let (start, end) = if a.is_empty() {
        let n: u64 = b.parse().map_err(|_| ())?;
        (size.saturating_sub(n), size.checked_sub(1).ok_or(())?)
    } else {
        let start: u64 = a.parse().map_err(|_| ())?;
        let end = if b.is_empty() {
            size.saturating_sub(1)
        } else {
            b.parse::<u64>()
                .map_err(|_| ())?
                .min(size.saturating_sub(1))
        };
        (start, end)
    };
    if start >= size || end < start {
        return Err(());
    }
    Ok(Some((start, end)))
}

/// Serves `file` (or the requested range of it), 64 KiB at a time.
pub fn serve(file: &SimFile, headers: &HeaderMap) -> Response {
    let etag = format!("\"{}\"", file.md5);
    let (status, start, end) = match parse_range(headers, file.size, &etag) {
        Ok(Some((s, e))) => (StatusCode::PARTIAL_CONTENT, s, e + 1),
        Ok(None) => (StatusCode::OK, 0, file.size),
        Err(()) => {
            return (
                StatusCode::RANGE_NOT_SATISFIABLE,
                [(header::CONTENT_RANGE, format!("bytes */{}", file.size))],
            )
                .into_response();
        }
    };
    let seed = file.seed;
    let chunks = futures::stream::unfold(start, move |at| async move {
        if at >= end {
            return None;
        }
        let n = (end - at).min(64 * 1024) as usize;
        let mut buf = vec![0_u8; n];
        fill(seed, at, &mut buf);
        Some((Ok::<_, std::io::Error>(Bytes::from(buf)), at + n as u64))
    });
    let mut response = Response::new(Body::from_stream(chunks));
    *response.status_mut() = status;
    let h = response.headers_mut();
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(end - start));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp4"));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    if status == StatusCode::PARTIAL_CONTENT
        && let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{}/{}", end - 1, file.size))
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_addressable_by_offset() {
        let mut whole = vec![0_u8; 100];
        fill(7, 0, &mut whole);
        let mut part = vec![0_u8; 37];
        fill(7, 41, &mut part);
        assert_eq!(&whole[41..78], &part[..]);
        let f = SimFile::new("v", 100, 7);
        assert_eq!(f.md5, hex::encode(Md5::digest(&whole)));
    }

    #[test]
    fn ranges() {
        let mut h = HeaderMap::new();
        h.insert(header::RANGE, HeaderValue::from_static("bytes=10-"));
        assert_eq!(parse_range(&h, 100, "\"x\""), Ok(Some((10, 99))));
        h.insert(header::RANGE, HeaderValue::from_static("bytes=-10"));
        assert_eq!(parse_range(&h, 100, "\"x\""), Ok(Some((90, 99))));
        h.insert(header::RANGE, HeaderValue::from_static("bytes=100-"));
        assert_eq!(parse_range(&h, 100, "\"x\""), Err(()));
        h.insert(header::IF_RANGE, HeaderValue::from_static("\"old\""));
        assert_eq!(parse_range(&h, 100, "\"x\""), Ok(None));
    }
}
