//! Plaso's `signature`: every parameter but `signature` and `__plasoRequestId__` whose value is
//! not null, sorted by key, joined `k=v` with `&` over raw values, HMAC-SHA1 keyed with the
//! secret's UTF-8 bytes, uppercase hex (always 40 characters).

use std::collections::BTreeMap;

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha1::Sha1;

/// Keys that never take part in the signature.
const UNSIGNED: [&str; 2] = ["signature", "__plasoRequestId__"];

/// A parameter's value as it appears in the signed string: strings raw, numbers and booleans
/// as JSON writes them; `None` for null (skipped).
fn raw(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// The string that is signed.
#[must_use]
pub fn canonical_string(params: &BTreeMap<String, Value>) -> String {
    params
        .iter()
        .filter(|(k, _)| !UNSIGNED.contains(&k.as_str()))
        .filter_map(|(k, v)| raw(v).map(|v| format!("{k}={v}")))
        .collect::<Vec<_>>()
        .join("&")
}

/// The `signature` of `params` under `secret`.
#[must_use]
pub fn sign(params: &BTreeMap<String, Value>, secret: &str) -> String {
    // HMAC accepts keys of any length; this cannot fail.
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(canonical_string(params).as_bytes());
    hex::encode_upper(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn known_answer() {
        let p: BTreeMap<String, Value> = serde_json::from_value(json!({
            "appId": "demo_app", "validBegin": 1_700_000_000, "validTime": 300,
            "recordId": "64abb520a7ffbc00091f828e", "fileName": "第1课-回放",
            "convertMode": 20, "resolution": "1080P",
        }))
        .expect("params");
        assert_eq!(
            canonical_string(&p),
            "appId=demo_app&convertMode=20&fileName=第1课-回放&recordId=64abb520a7ffbc00091f828e&resolution=1080P&validBegin=1700000000&validTime=300"
        );
        let sig = sign(&p, "test-secret-key");
        assert_eq!(sig, "AB4FCD5141211CFE71E2C165D32B751D56EF93BD");
        assert_eq!(sig.len(), 40);
    }

    #[test]
    fn nulls_signature_and_request_id_are_not_signed() {
        let p: BTreeMap<String, Value> = serde_json::from_value(json!({
            "appId": "a", "b": null, "signature": "X", "__plasoRequestId__": "r",
        }))
        .expect("params");
        assert_eq!(canonical_string(&p), "appId=a");
    }
}
