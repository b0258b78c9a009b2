//! WeClassroom's `signMsg`: Laravel's Encrypter over PHP `serialize()`.
//! `value = base64(AES-256-CBC-PKCS7(serialized, key, iv))`, `mac = hex HMAC-SHA256(key,
//! base64(iv) + value)`, `signMsg = base64({"iv":…,"value":…,"mac":…})` written as PHP's
//! `json_encode` writes it (`/` escaped as `\/`). The key is the secret's raw 32 bytes.

use aes::cipher::{BlockEncryptMut, KeyIvInit, block_padding::Pkcs7};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::php::{PhpValue, serialize};

/// A WeClassroom signing key: exactly 32 bytes.
#[derive(Clone)]
pub struct SignKey([u8; 32]);

impl std::fmt::Debug for SignKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SignKey(***)")
    }
}

/// The secret is not 32 bytes long.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the WeClassroom secret must be exactly 32 bytes (it is used raw as an AES-256 key), not {0}"
)]
pub struct BadKeyLength(pub usize);

impl SignKey {
    /// The key from the secret string's raw bytes (not hex-decoded).
    pub fn new(secret: &str) -> Result<Self, BadKeyLength> {
        let bytes: [u8; 32] = secret
            .as_bytes()
            .try_into()
            .map_err(|_| BadKeyLength(secret.len()))?;
        Ok(Self(bytes))
    }

    /// The raw key bytes.
    #[must_use]
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// Every intermediate of one `signMsg`, for `creel vendor sign` and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedMessage {
    /// `serialize($params)`.
    pub serialized: String,
    /// base64 of the ciphertext.
    pub value: String,
    /// lowercase hex HMAC-SHA256 of base64(iv) + value.
    pub mac: String,
    /// What is sent as `signMsg`.
    pub sign_msg: String,
}

/// Signs `params` with `key` and the given `iv` (pass fresh random bytes; tests pass fixed
/// ones).
#[must_use]
pub fn sign_msg(params: &[(String, PhpValue)], key: &SignKey, iv: [u8; 16]) -> SignedMessage {
    let serialized = serialize(params);
    let cipher = cbc::Encryptor::<aes::Aes256>::new(&key.0.into(), &iv.into())
        .encrypt_padded_vec_mut::<Pkcs7>(serialized.as_bytes());
    let iv_b64 = STANDARD.encode(iv);
    let value = STANDARD.encode(cipher);
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key.0)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(iv_b64.as_bytes());
    mac.update(value.as_bytes());
    let mac = hex::encode(mac.finalize().into_bytes());
    // PHP's json_encode escapes '/'; base64 and hex need no other escaping.
    let json = format!(
        r#"{{"iv":"{}","value":"{}","mac":"{}"}}"#,
        iv_b64.replace('/', "\\/"),
        value.replace('/', "\\/"),
        mac
    );
    SignedMessage {
        serialized,
        value,
        mac,
        sign_msg: STANDARD.encode(json),
    }
}

/// A fresh random IV from the operating system.
pub fn random_iv() -> Result<[u8; 16], getrandom::Error> {
    let mut iv = [0_u8; 16];
    getrandom::fill(&mut iv)?;
    Ok(iv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answer() {
        let key = SignKey::new("32bf27979cf0dba95d80f500f553ed53").expect("32 bytes");
        let iv: [u8; 16] = std::array::from_fn(|i| i as u8);
        let params = vec![
            ("lessonId".to_owned(), PhpValue::Int(10_384_374)),
            ("diskId".to_owned(), PhpValue::Int(356)),
        ];
        let m = sign_msg(&params, &key, iv);
        assert_eq!(
            m.serialized,
            r#"a:2:{s:8:"lessonId";i:10384374;s:6:"diskId";i:356;}"#
        );
        assert_eq!(
            m.value,
            "xxk1OPAzMFejqwe2cc27TGUwsjrJAfET2vLq4jlMv8nCSWKJoJPKNl1IFdxAvBxwYSD0X6F8hGmT2O3dkHJesw=="
        );
        assert_eq!(
            m.mac,
            "bb66f6b92d8d4896c007ad082d7bf8e24b30268e233c39702b0965575f1d4408"
        );
        assert_eq!(
            m.sign_msg,
            "eyJpdiI6IkFBRUNBd1FGQmdjSUNRb0xEQTBPRHc9PSIsInZhbHVlIjoieHhrMU9QQXpNRmVqcXdlMmNjMjdUR1V3c2pySkFmRVQydkxxNGpsTXY4bkNTV0tKb0pQS05sMUlGZHhBdkJ4d1lTRDBYNkY4aEdtVDJPM2RrSEplc3c9PSIsIm1hYyI6ImJiNjZmNmI5MmQ4ZDQ4OTZjMDA3YWQwODJkN2JmOGUyNGIzMDI2OGUyMzNjMzk3MDJiMDk2NTU3NWYxZDQ0MDgifQ=="
        );
    }

    #[test]
    fn keys_must_be_32_bytes() {
        assert_eq!(SignKey::new("short").expect_err("short"), BadKeyLength(5));
        assert!(SignKey::new(&"k".repeat(64)).is_err());
    }

    #[test]
    fn slashes_are_escaped_like_php() {
        let key = SignKey::new("32bf27979cf0dba95d80f500f553ed53").expect("32 bytes");
        // Find an iv whose base64 contains '/', and check the JSON escapes it.
        let iv = [0xff_u8; 16];
        let m = sign_msg(&[("a".into(), PhpValue::Int(1))], &key, iv);
        let json = String::from_utf8(STANDARD.decode(&m.sign_msg).expect("b64")).expect("utf8");
        assert!(json.starts_with(r#"{"iv":"\/\/\/\/"#), "{json}");
    }
}
