//! Properties of the code that reads untrusted input, each a function of arbitrary bytes that
//! panics only when the property fails. The short proptests in `tests/tests/integration/properties.rs` run
//! them in `just test`; the cargo-fuzz targets in `fuzz/` include this same file and run them
//! for longer in `just fuzz`. Only crates both can build are used here.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use creel_core::config::{StorageProfile, Vendor, VendorAccount};
use creel_core::{Config, JobRequest, RequestValidator, Secret};
use creel_vendors::baijiayun::{callback as bjy, model as bjy_model, sign as bjy_sign};
use creel_vendors::plaso::{callback as plaso_callback, model as plaso_model};
use creel_vendors::weclassroom::model as wc_model;
use creel_vendors::weclassroom::php::{self, PhpValue};
use serde_json::Value;

/// Every vendor's answer models decode arbitrary bytes without panicking, and what decodes
/// answers its accessors without panicking.
pub fn vendor_answers(data: &[u8]) {
    let _ = serde_json::from_slice::<plaso_model::TransferVideoAnswer>(data);
    if let Ok(t) = serde_json::from_slice::<plaso_model::VideoTask>(data) {
        let _ = (t.status.code(), t.status.is_failure());
    }
    let _ = serde_json::from_slice::<plaso_model::Callback>(data);
    let _ = serde_json::from_slice::<bjy_model::PlaybackPage>(data);
    let _ = serde_json::from_slice::<bjy_model::CropResult>(data);
    let _ = serde_json::from_slice::<bjy_model::RoomPureVideo>(data);
    let _ = serde_json::from_slice::<bjy_model::VodState>(data);
    let _ = serde_json::from_slice::<bjy_model::VodInfo>(data);
    if let Ok(u) = serde_json::from_slice::<bjy_model::ExpiringUrl>(data) {
        let _ = u.expires_unix();
    }
    if let Ok(p) = serde_json::from_slice::<bjy_model::PlayInfo>(data) {
        let _ = p.best();
    }
    let _ = serde_json::from_slice::<wc_model::LessonReplayStatus>(data);
    let _ = serde_json::from_slice::<wc_model::ReplayUrl>(data);
    if let Ok(v) = serde_json::from_slice::<Value>(data) {
        for r in wc_model::recordings(&v) {
            let _ = r;
        }
    }
    let _ = wc_model::normalize_url(&String::from_utf8_lossy(data));
}

const BJY_KEY: &str = "property-partner-key";

/// Callback bodies: Plaso's parser accepts only documented statuses and bounded task ids; a
/// Baijiayun form verifies only with its sign, and a correctly signed form verifies exactly
/// when no field name or value holds `&` or `=` (and then carries its fields' digest).
pub fn callbacks(data: &[u8]) {
    if let Ok(c) = plaso_callback::parse(data) {
        assert!(!c.task_id.is_empty() && c.task_id.len() <= plaso_callback::MAX_TASK_ID_LEN);
        assert!(!matches!(c.status, plaso_model::TaskStatus::Unknown(_)));
    }
    let mut fields: BTreeMap<String, String> = url::form_urlencoded::parse(data)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let now = 1_700_000_000;
    // Unsigned (or signed by someone else): never verifies, unless it happens to carry the
    // right sign, which arbitrary input does not.
    if !fields.contains_key("sign") {
        assert!(bjy::verify(&fields, BJY_KEY, now, Duration::from_secs(600)).is_err());
    }
    // Signed with the key: verifies iff the fields are unambiguous (and the kind's fields are
    // there, and the timestamp is fresh).
    fields.remove("sign");
    fields.insert("timestamp".into(), now.to_string());
    fields.entry("qid".into()).or_insert_with(|| "q".into());
    fields
        .entry("video_id".into())
        .or_insert_with(|| "1".into());
    fields
        .entry("status".into())
        .or_insert_with(|| "100".into());
    let sign = bjy_sign::sign(&fields, BJY_KEY);
    fields.insert("sign".into(), sign);
    let ambiguous = fields
        .iter()
        .any(|(k, v)| k.contains(['&', '=']) || v.contains(['&', '=']));
    match bjy::verify(&fields, BJY_KEY, now, Duration::from_secs(600)) {
        Ok(v) => {
            assert!(!ambiguous, "an ambiguous form verified: {fields:?}");
            assert_eq!(v.digest.len(), 64);
            // The same content again names the same replay key.
            let again = bjy::verify(&fields, BJY_KEY, now, Duration::from_secs(600));
            assert_eq!(again.map(|a| a.digest).ok(), Some(v.digest));
        }
        Err(bjy::CallbackError::BadSign) => assert!(ambiguous, "a signed form failed: {fields:?}"),
        Err(_) => {} // a field of the kind is malformed: refused, which is fine
    }
}

/// The configuration the request property validates against.
#[must_use]
pub fn request_config() -> Arc<Config> {
    let mut cfg = Config::default();
    cfg.storage.insert(
        "local".into(),
        StorageProfile::Dir {
            path: "/tmp/creel-properties".into(),
        },
    );
    for (name, vendor) in [
        ("plaso", Vendor::Plaso),
        ("bjy", Vendor::Baijiayun),
        ("wc", Vendor::Weclassroom),
    ] {
        cfg.accounts.insert(
            name.into(),
            VendorAccount::new(vendor, "1", Secret::new("k")),
        );
    }
    cfg.events
        .webhook
        .allow
        .push("https://hooks.example.com/".into());
    Arc::new(cfg)
}

const REQUEST_FIELDS: &[&str] = &[
    "body",
    "kind",
    "queue",
    "account",
    "payload",
    "idempotency_key",
    "run_at",
    "traceparent",
    "tracestate",
    "webhook",
    "created_by",
];

/// A `JobRequest` body: parsing and validation never panic, and every refusal names a field
/// of the request (a top-level one, or one under `payload`), or the unknown field it found.
pub fn job_request(data: &[u8], validator: &dyn RequestValidator) {
    let named = |e: &creel_core::JobRequestError| {
        let top = e.field.split(['.', '[']).next().unwrap_or("");
        assert!(
            REQUEST_FIELDS.contains(&top) || e.reason.starts_with("unknown field"),
            "the error names {:?}, not a field of the request: {}",
            e.field,
            e.reason
        );
        assert!(!e.reason.is_empty());
    };
    match JobRequest::from_json(data) {
        Ok(r) => {
            if let Err(e) = validator.validate(&r) {
                named(&e);
            }
        }
        Err(e) => named(&e),
    }
}

/// Builds a PHP value from bytes (deterministically), with the JSON that PHP's unserialize of
/// its serialization must give.
fn php_value(data: &mut &[u8], depth: usize) -> (PhpValue, Value) {
    let Some((&tag, rest)) = data.split_first() else {
        return (PhpValue::Null, Value::Null);
    };
    *data = rest;
    fn take(data: &mut &[u8], n: usize) -> Vec<u8> {
        let n = n.min(data.len());
        let (head, tail) = data.split_at(n);
        *data = tail;
        head.to_vec()
    }
    match tag % 5 {
        0 => (PhpValue::Null, Value::Null),
        1 => {
            let b = take(data, 1).first().is_some_and(|b| b % 2 == 1);
            (PhpValue::Bool(b), Value::Bool(b))
        }
        2 => {
            let bytes = take(data, 8);
            let mut buf = [0u8; 8];
            buf[..bytes.len()].copy_from_slice(&bytes);
            let i = i64::from_le_bytes(buf);
            (PhpValue::Int(i), Value::from(i))
        }
        3 => {
            let len = take(data, 1).first().map_or(0, |b| usize::from(*b % 16));
            let s = String::from_utf8_lossy(&take(data, len)).into_owned();
            (PhpValue::Str(s.clone()), Value::String(s))
        }
        _ if depth >= 4 => (PhpValue::Null, Value::Null),
        _ => {
            let n = take(data, 1).first().map_or(0, |b| usize::from(*b % 4));
            let mut entries = Vec::new();
            let mut expected = serde_json::Map::new();
            for _ in 0..n {
                let klen = take(data, 1).first().map_or(0, |b| usize::from(*b % 6));
                let key = String::from_utf8_lossy(&take(data, klen)).into_owned();
                let (v, j) = php_value(data, depth + 1);
                // PHP stores a canonical decimal key as an integer; its JSON key is the same text.
                expected.insert(key.clone(), j);
                entries.push((key, v));
            }
            (PhpValue::Array(entries), Value::Object(expected))
        }
    }
}

/// WeClassroom's PHP serializer round-trips through the simulator's independent unserializer,
/// and that unserializer survives arbitrary bytes.
pub fn php_round_trip(data: &[u8]) {
    let _ = creel_sim::verify::php_unserialize(data);
    let mut rest = data;
    let mut params = Vec::new();
    let mut expected = serde_json::Map::new();
    while !rest.is_empty() && params.len() < 8 {
        let klen = usize::from(rest[0] % 8);
        rest = &rest[1..];
        let (k, tail) = rest.split_at(klen.min(rest.len()));
        rest = tail;
        let key = String::from_utf8_lossy(k).into_owned();
        let (v, j) = php_value(&mut rest, 0);
        expected.insert(key.clone(), j);
        params.push((key, v));
    }
    let text = php::serialize(&params);
    let back = creel_sim::verify::php_unserialize(text.as_bytes())
        .unwrap_or_else(|e| panic!("{text:?} does not unserialize: {e}"));
    assert_eq!(back, Value::Object(expected), "{text:?}");
}

/// An object-key template: a key that passes [`creel_storage::ObjectKey::parse`] stays inside
/// the profile (no absolute path, no `.`/`..` segment, only safe characters), and a template
/// that intake accepts (rendered with the request's own kind and account) gives a valid key for
/// any job id at run time.
pub fn object_keys(data: &[u8]) {
    let template = String::from_utf8_lossy(data);
    let account = "bjy-main_2";
    let sample = creel_jobs::download::render_key(
        &template,
        "01M80ZC26FKKSMB7FKWBE0W9J7",
        "download",
        Some(account),
    );
    let Ok(key) = creel_storage::ObjectKey::parse(&sample) else {
        return;
    };
    let k = key.as_str();
    assert!(!k.starts_with('/') && k.len() <= 1024);
    for seg in k.split('/') {
        assert!(!seg.is_empty() && seg != "." && seg != "..", "{k:?}");
        assert!(
            seg.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        );
    }
    let real = creel_jobs::download::render_key(
        &template,
        &creel_core::JobId::generate().to_string(),
        "download",
        Some(account),
    );
    assert!(
        creel_storage::ObjectKey::parse(&real).is_ok(),
        "{template:?} was accepted at intake but gives {real:?} at run time"
    );
}
