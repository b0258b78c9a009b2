//! Lenient readers for vendor answers: ids and codes arrive as JSON numbers or as strings
//! holding numbers (the vendors' own examples mix both), and are read either way.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// An integer written as a number or as a string holding one.
pub(crate) fn int<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let v = Value::deserialize(d)?;
    as_int(&v).ok_or_else(|| serde::de::Error::custom(format!("expected an integer, got {v}")))
}

/// Like [`int`], for optional fields (absent, null, empty or not a number: `None`).
pub(crate) fn opt_int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(Option::<Value>::deserialize(d)?.as_ref().and_then(as_int))
}

/// A text or a number, as text (vendor times come as `"2018-03-19 09:43:48"` or as Unix
/// seconds); absent, null or anything else: `None`.
pub(crate) fn opt_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

fn as_int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}
