//! The simulator's own signature checks, written from the vendor documents and not shared with
//! creel's clients, so a client bug cannot hide behind the same bug here.

use std::collections::HashMap;

use aes::cipher::{BlockDecryptMut, KeyIvInit, block_padding::Pkcs7};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use serde_json::Value;
use subtle::ConstantTimeEq;

fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Baijiayun: MD5 of the fields but `sign`, sorted by key bytes, `k=v` joined by `&`, then
/// `&partner_key=…`.
#[must_use]
pub fn baijiayun_sign(fields: &HashMap<String, String>, partner_key: &str) -> String {
    let mut keys: Vec<&String> = fields.keys().filter(|k| *k != "sign").collect();
    keys.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    let mut text = Vec::new();
    for k in keys {
        text.extend_from_slice(k.as_bytes());
        text.push(b'=');
        text.extend_from_slice(fields[k].as_bytes());
        text.push(b'&');
    }
    text.extend_from_slice(b"partner_key=");
    text.extend_from_slice(partner_key.as_bytes());
    hex::encode(Md5::digest(&text))
}

/// Whether Baijiayun fields carry a good `sign`.
#[must_use]
pub fn baijiayun_ok(fields: &HashMap<String, String>, partner_key: &str) -> bool {
    fields
        .get("sign")
        .is_some_and(|s| same(s, &baijiayun_sign(fields, partner_key)))
}

/// Plaso: HMAC-SHA1 over the non-null fields but `signature`/`__plasoRequestId__`, sorted by
/// key, uppercase hex.
#[must_use]
pub fn plaso_signature(fields: &serde_json::Map<String, Value>, secret: &str) -> String {
    let mut pairs: Vec<(String, String)> = fields
        .iter()
        .filter(|(k, v)| *k != "signature" && *k != "__plasoRequestId__" && !v.is_null())
        .map(|(k, v)| {
            let v = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
            (k.clone(), v)
        })
        .collect();
    pairs.sort();
    let text = pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let mut mac = <Hmac<sha1::Sha1> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(text.as_bytes());
    hex::encode_upper(mac.finalize().into_bytes())
}

/// Whether Plaso fields carry a good `signature`.
#[must_use]
pub fn plaso_ok(fields: &serde_json::Map<String, Value>, secret: &str) -> bool {
    fields
        .get("signature")
        .and_then(Value::as_str)
        .is_some_and(|s| same(s, &plaso_signature(fields, secret)))
}

/// Why a `signMsg` was refused, as WeClassroom's code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignMsgError {
    /// 20005: it does not decode, decrypt or authenticate.
    Auth(String),
    /// 40002: it decrypts but is not a serialized array.
    Params(String),
}

/// Opens a WeClassroom `signMsg` with the 32-byte key: base64 → JSON `{iv, value, mac}` →
/// check the HMAC → AES-256-CBC decrypt → PHP unserialize.
pub fn weclassroom_open(sign_msg: &str, key: &[u8]) -> Result<Value, SignMsgError> {
    let auth = |m: &str| SignMsgError::Auth(m.to_owned());
    let json = STANDARD
        .decode(sign_msg.trim())
        .map_err(|_| auth("signMsg is not base64"))?;
    let envelope: Value = serde_json::from_slice(&json).map_err(|_| auth("not JSON"))?;
    let field = |k: &str| {
        envelope
            .get(k)
            .and_then(Value::as_str)
            .ok_or_else(|| auth(&format!("no {k}")))
    };
    let (iv_b64, value, mac_hex) = (field("iv")?, field("value")?, field("mac")?);
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(iv_b64.as_bytes());
    mac.update(value.as_bytes());
    let expected = hex::encode(mac.finalize().into_bytes());
    if !same(&expected, mac_hex) {
        return Err(auth("mac mismatch"));
    }
    let iv: [u8; 16] = STANDARD
        .decode(iv_b64)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| auth("iv is not 16 bytes"))?;
    let key: [u8; 32] = key.try_into().map_err(|_| auth("key is not 32 bytes"))?;
    let cipher = STANDARD
        .decode(value)
        .map_err(|_| auth("value is not base64"))?;
    let plain = cbc::Decryptor::<aes::Aes256>::new(&key.into(), &iv.into())
        .decrypt_padded_vec_mut::<Pkcs7>(&cipher)
        .map_err(|_| auth("bad padding"))?;
    let mut parser = Unserializer {
        bytes: &plain,
        at: 0,
        depth: 0,
    };
    let v = parser.value().map_err(SignMsgError::Params)?;
    if parser.at != plain.len() || !v.is_object() {
        return Err(SignMsgError::Params("not one serialized array".into()));
    }
    Ok(v)
}

/// PHP `unserialize` of `bytes` (the subset requests use), as [`weclassroom_open`] reads a
/// decrypted `signMsg`: arrays become JSON objects keyed by the PHP key (integers as decimal
/// strings). The whole input must be one value.
pub fn php_unserialize(bytes: &[u8]) -> Result<Value, String> {
    let mut parser = Unserializer {
        bytes,
        at: 0,
        depth: 0,
    };
    let v = parser.value()?;
    if parser.at != bytes.len() {
        return Err(format!("{} bytes after the value", bytes.len() - parser.at));
    }
    Ok(v)
}

/// A PHP `unserialize` for the subset requests use. Arrays become JSON objects keyed by the
/// PHP key (integers as decimal strings); integers stay integers, so a test can see whether a
/// client sent `i:` or `s:`.
struct Unserializer<'a> {
    bytes: &'a [u8],
    at: usize,
    depth: usize,
}

/// Arrays nested deeper than this are refused (no request nests more than two).
const MAX_DEPTH: usize = 32;

impl Unserializer<'_> {
    fn expect(&mut self, b: u8) -> Result<(), String> {
        if self.bytes.get(self.at) == Some(&b) {
            self.at += 1;
            Ok(())
        } else {
            Err(format!("expected '{}' at byte {}", b as char, self.at))
        }
    }

    fn until(&mut self, end: u8) -> Result<&str, String> {
        let start = self.at;
        while self.bytes.get(self.at).is_some_and(|b| *b != end) {
            self.at += 1;
        }
        let s = std::str::from_utf8(&self.bytes[start..self.at]).map_err(|e| e.to_string())?;
        self.expect(end)?;
        Ok(s)
    }

    fn value(&mut self) -> Result<Value, String> {
        let tag = *self.bytes.get(self.at).ok_or("truncated")?;
        self.at += 1;
        match tag {
            b'N' => {
                self.expect(b';')?;
                Ok(Value::Null)
            }
            b'b' => {
                self.expect(b':')?;
                Ok(Value::Bool(self.until(b';')? == "1"))
            }
            b'i' => {
                self.expect(b':')?;
                let n: i64 = self.until(b';')?.parse().map_err(|_| "bad integer")?;
                Ok(Value::from(n))
            }
            b'd' => {
                self.expect(b':')?;
                let n: f64 = self.until(b';')?.parse().map_err(|_| "bad double")?;
                Ok(Value::from(n))
            }
            b's' => {
                self.expect(b':')?;
                let len: usize = self.until(b':')?.parse().map_err(|_| "bad length")?;
                self.expect(b'"')?;
                let end = self.at.checked_add(len).ok_or("string length overflows")?;
                let raw = self.bytes.get(self.at..end).ok_or("string overruns")?;
                let s = std::str::from_utf8(raw)
                    .map_err(|e| e.to_string())?
                    .to_owned();
                self.at = end;
                self.expect(b'"')?;
                self.expect(b';')?;
                Ok(Value::String(s))
            }
            b'a' => {
                self.expect(b':')?;
                let n: usize = self.until(b':')?.parse().map_err(|_| "bad count")?;
                self.expect(b'{')?;
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return Err("arrays nested too deep".into());
                }
                let mut map = serde_json::Map::new();
                for _ in 0..n {
                    let key = match self.value()? {
                        Value::String(s) => s,
                        Value::Number(n) => n.to_string(),
                        other => return Err(format!("bad array key {other}")),
                    };
                    let v = self.value()?;
                    map.insert(key, v);
                }
                self.expect(b'}')?;
                self.depth -= 1;
                Ok(Value::Object(map))
            }
            other => Err(format!("unknown tag '{}'", other as char)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answers_from_vendors_md() {
        let f: HashMap<String, String> = [("partner_id", "12345"), ("video_id", "456")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        assert_eq!(
            baijiayun_sign(&f, "8jewu3j93jjewi3jwj90093jkyu"),
            "83a0b7d0595ba40e416de53c2a0ac178"
        );
        let sign_msg = "eyJpdiI6IkFBRUNBd1FGQmdjSUNRb0xEQTBPRHc9PSIsInZhbHVlIjoieHhrMU9QQXpNRmVqcXdlMmNjMjdUR1V3c2pySkFmRVQydkxxNGpsTXY4bkNTV0tKb0pQS05sMUlGZHhBdkJ4d1lTRDBYNkY4aEdtVDJPM2RrSEplc3c9PSIsIm1hYyI6ImJiNjZmNmI5MmQ4ZDQ4OTZjMDA3YWQwODJkN2JmOGUyNGIzMDI2OGUyMzNjMzk3MDJiMDk2NTU3NWYxZDQ0MDgifQ==";
        let v = weclassroom_open(sign_msg, b"32bf27979cf0dba95d80f500f553ed53").expect("opens");
        assert_eq!(v["lessonId"], Value::from(10_384_374));
        assert_eq!(v["diskId"], Value::from(356));
        assert!(matches!(
            weclassroom_open(sign_msg, b"32bf27979cf0dba95d80f500f553ed54"),
            Err(SignMsgError::Auth(_))
        ));
        let fields: serde_json::Map<String, Value> = serde_json::from_str(
            r#"{"appId":"demo_app","validBegin":1700000000,"validTime":300,"recordId":"64abb520a7ffbc00091f828e","fileName":"第1课-回放","convertMode":20,"resolution":"1080P"}"#,
        )
        .expect("json");
        assert_eq!(
            plaso_signature(&fields, "test-secret-key"),
            "AB4FCD5141211CFE71E2C165D32B751D56EF93BD"
        );
    }
}
