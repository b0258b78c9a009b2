//! Baijiayun's `sign`: drop `sign`, sort the other keys by byte order, join `k=v` with `&` over
//! the raw UTF-8 values, append `&partner_key=<key>`, lowercase hex MD5. The same rule verifies
//! callbacks (over every received field but `sign`, empty values included).

use std::collections::BTreeMap;

use md5::{Digest, Md5};
use subtle::ConstantTimeEq;

/// The string that is hashed: `k=v&…&partner_key=<key>` over every field but `sign`, sorted by
/// key bytes. `BTreeMap<String, _>` orders by bytes, which is the vendor's order.
#[must_use]
pub fn canonical_string(params: &BTreeMap<String, String>, partner_key: &str) -> String {
    let mut out = String::new();
    for (k, v) in params.iter().filter(|(k, _)| k.as_str() != "sign") {
        out.push_str(k);
        out.push('=');
        out.push_str(v);
        out.push('&');
    }
    out.push_str("partner_key=");
    out.push_str(partner_key);
    out
}

/// The `sign` of `params` under `partner_key`: lowercase hex MD5 of [`canonical_string`].
#[must_use]
pub fn sign(params: &BTreeMap<String, String>, partner_key: &str) -> String {
    hex::encode(Md5::digest(
        canonical_string(params, partner_key).as_bytes(),
    ))
}

/// Whether `params` carries a correct `sign` (compared in constant time).
#[must_use]
pub fn verify(params: &BTreeMap<String, String>, partner_key: &str) -> bool {
    let Some(given) = params.get("sign") else {
        return false;
    };
    let expected = sign(params, partner_key);
    expected.len() == given.len() && bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    const KEY: &str = "8jewu3j93jjewi3jwj90093jkyu";

    #[test]
    fn known_answer_two_params() {
        let p = params(&[("video_id", "456"), ("partner_id", "12345")]);
        assert_eq!(
            canonical_string(&p, KEY),
            "partner_id=12345&video_id=456&partner_key=8jewu3j93jjewi3jwj90093jkyu"
        );
        assert_eq!(sign(&p, KEY), "83a0b7d0595ba40e416de53c2a0ac178");
    }

    #[test]
    fn known_answer_with_timestamp() {
        let p = params(&[
            ("partner_id", "12345"),
            ("video_id", "456"),
            ("timestamp", "1596096142"),
        ]);
        assert_eq!(
            canonical_string(&p, KEY),
            "partner_id=12345&timestamp=1596096142&video_id=456&partner_key=8jewu3j93jjewi3jwj90093jkyu"
        );
        assert_eq!(sign(&p, KEY), "95b1618b51f5e38f1889f1bee9d54c00");
    }

    #[test]
    fn known_answer_utf8_title_and_long_key() {
        let key = "rLkIPaQjxSwRQmC/ITnHh8i2rifmmbFIVsYw03SSi24zAnkrAd0ZNb2rcTzI2avy7+AmNJDdLmzU89zKUAP3Xg==";
        let p = params(&[
            ("partner_id", "12345678"),
            ("title", "测试教室"),
            ("start_time", "1501575608"),
            ("end_time", "1501579208"),
            ("type", "2"),
            ("timestamp", "1501572288"),
        ]);
        assert_eq!(
            canonical_string(&p, key),
            format!(
                "end_time=1501579208&partner_id=12345678&start_time=1501575608&timestamp=1501572288&title=测试教室&type=2&partner_key={key}"
            )
        );
        assert_eq!(sign(&p, key), "5b78486597c679b0c6256da014af1260");
    }

    #[test]
    fn sign_field_is_ignored_and_verified() {
        let mut p = params(&[("partner_id", "12345"), ("video_id", "456")]);
        p.insert("sign".into(), "83a0b7d0595ba40e416de53c2a0ac178".into());
        assert!(verify(&p, KEY));
        p.insert("video_id".into(), "457".into());
        assert!(!verify(&p, KEY));
        p.remove("sign");
        assert!(!verify(&p, KEY));
    }
}
