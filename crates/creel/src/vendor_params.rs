//! The parameters of `creel vendor sign` and `creel vendor call`, read as the vendors' own
//! sample code (PHP, JS) would send them: `key=value` is text and `key:=json` a JSON value,
//! whichever separator comes first deciding (`title=x:=1` is the text `x:=1`); JSON objects
//! keep their order (PHP's `serialize()` of an array does); a key given twice keeps its first
//! place and its last value (PHP arrays and JS objects both do).

use creel_vendors::weclassroom::php::PhpValue;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// One `key=value` or `key:=json` argument.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    /// The key.
    pub key: String,
    /// The value.
    pub value: ParamValue,
}

/// How a parameter's value was written.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    /// `k=v`: text. WeClassroom sends it as a PHP int when it is a canonical integer (ids go
    /// as ints), else as a string.
    Text(String),
    /// `k:=json`: exactly this JSON value (a JSON string stays a string), objects in the
    /// order written.
    Json(OrderedJson),
}

/// A JSON value whose objects keep the order their keys were written in (serde_json's map
/// sorts them). A key repeated in one object keeps its first place and its last value.
#[derive(Debug, Clone, PartialEq)]
pub enum OrderedJson {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// A number.
    Number(serde_json::Number),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<OrderedJson>),
    /// An object, in written order.
    Object(Vec<(String, OrderedJson)>),
}

impl OrderedJson {
    /// As a serde_json value (objects sorted: for the vendors that sort anyway).
    #[must_use]
    pub fn to_value(&self) -> Value {
        match self {
            Self::Null => Value::Null,
            Self::Bool(b) => Value::Bool(*b),
            Self::Number(n) => Value::Number(n.clone()),
            Self::String(s) => Value::String(s.clone()),
            Self::Array(items) => Value::Array(items.iter().map(Self::to_value).collect()),
            Self::Object(map) => {
                Value::Object(map.iter().map(|(k, v)| (k.clone(), v.to_value())).collect())
            }
        }
    }

    /// As a PHP value, in written order: strings stay strings, integers are ints, arrays and
    /// objects arrays.
    pub fn php(&self) -> anyhow::Result<PhpValue> {
        Ok(match self {
            Self::Null => PhpValue::Null,
            Self::Bool(b) => PhpValue::Bool(*b),
            Self::Number(n) => PhpValue::Int(
                n.as_i64()
                    .ok_or_else(|| anyhow::format_err!("PHP params need integers, not {n}"))?,
            ),
            Self::String(s) => PhpValue::Str(s.clone()),
            Self::Array(items) => {
                PhpValue::list(items.iter().map(Self::php).collect::<anyhow::Result<_>>()?)
            }
            Self::Object(map) => PhpValue::Array(
                map.iter()
                    .map(|(k, v)| Ok((k.clone(), v.php()?)))
                    .collect::<anyhow::Result<_>>()?,
            ),
        })
    }
}

impl<'de> Deserialize<'de> for OrderedJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(OrderedVisitor)
    }
}

struct OrderedVisitor;

impl<'de> Visitor<'de> for OrderedVisitor {
    type Value = OrderedJson;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<OrderedJson, E> {
        Ok(OrderedJson::Null)
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<OrderedJson, E> {
        Ok(OrderedJson::Bool(b))
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<OrderedJson, E> {
        Ok(OrderedJson::Number(n.into()))
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<OrderedJson, E> {
        Ok(OrderedJson::Number(n.into()))
    }

    fn visit_f64<E: de::Error>(self, n: f64) -> Result<OrderedJson, E> {
        serde_json::Number::from_f64(n)
            .map(OrderedJson::Number)
            .ok_or_else(|| E::custom("a finite number"))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<OrderedJson, E> {
        Ok(OrderedJson::String(s.to_owned()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OrderedJson, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(OrderedJson::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OrderedJson, A::Error> {
        let mut entries: Vec<(String, OrderedJson)> = Vec::new();
        while let Some((key, value)) = map.next_entry::<String, OrderedJson>()? {
            last_wins(&mut entries, key, value);
        }
        Ok(OrderedJson::Object(entries))
    }
}

/// Sets `key` in `entries`: in its first place if it is there already, else at the end.
fn last_wins<V>(entries: &mut Vec<(String, V)>, key: String, value: V) {
    match entries.iter_mut().find(|(k, _)| *k == key) {
        Some((_, v)) => *v = value,
        None => entries.push((key, value)),
    }
}

/// The parameters as a PHP array or a JS object would hold them: a repeated key keeps its
/// first place and its last value.
#[must_use]
pub fn deduplicated(params: &[Param]) -> Vec<Param> {
    let mut entries: Vec<(String, ParamValue)> = Vec::new();
    for p in params {
        last_wins(&mut entries, p.key.clone(), p.value.clone());
    }
    entries
        .into_iter()
        .map(|(key, value)| Param { key, value })
        .collect()
}

impl ParamValue {
    /// The value as JSON (text becomes a JSON string).
    #[must_use]
    pub fn json(&self) -> Value {
        match self {
            Self::Text(t) => Value::String(t.clone()),
            Self::Json(v) => v.to_value(),
        }
    }

    /// The value as the text Baijiayun signs and sends.
    #[must_use]
    pub fn text(&self) -> String {
        match self {
            Self::Text(t) => t.clone(),
            Self::Json(OrderedJson::String(s)) => s.clone(),
            Self::Json(v) => v.to_value().to_string(),
        }
    }

    /// The value as a PHP value for WeClassroom.
    pub fn php(&self) -> anyhow::Result<PhpValue> {
        match self {
            Self::Text(t) => Ok(match t.parse::<i64>() {
                Ok(i) if i.to_string() == *t => PhpValue::Int(i),
                _ => PhpValue::Str(t.clone()),
            }),
            Self::Json(v) => v.php(),
        }
    }
}

impl std::str::FromStr for Param {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let eq = s
            .find('=')
            .ok_or_else(|| format!("expected key=value or key:=json, got {s:?}"))?;
        // `:=` only when its `=` is the first one: in `title=x:=1` the value is `x:=1`.
        if let Some(key) = s[..eq].strip_suffix(':') {
            let json = &s[eq + 1..];
            let value =
                serde_json::from_str(json).map_err(|e| format!("{key}:= needs JSON: {e}"))?;
            return Ok(Self {
                key: key.to_owned(),
                value: ParamValue::Json(value),
            });
        }
        Ok(Self {
            key: s[..eq].to_owned(),
            value: ParamValue::Text(s[eq + 1..].to_owned()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn param(s: &str) -> Param {
        s.parse().expect("param")
    }

    #[test]
    fn the_first_separator_decides() {
        assert_eq!(param("room_id=123").value, ParamValue::Text("123".into()));
        assert_eq!(
            param("room_id=123").value.php().expect("php"),
            PhpValue::Int(123)
        );
        let p = param("title=x:=1");
        assert_eq!(
            (p.key.as_str(), p.value),
            ("title", ParamValue::Text("x:=1".into()))
        );
        let p = param("a=b=c");
        assert_eq!(
            (p.key.as_str(), p.value),
            ("a", ParamValue::Text("b=c".into()))
        );
        let p = param("ids:=[1,2]");
        assert_eq!(p.key, "ids");
        assert_eq!(p.value.json(), serde_json::json!([1, 2]));
        assert_eq!(
            param(r#"lessonId:="7""#).value.php().expect("php"),
            PhpValue::Str("7".into())
        );
        assert!("nothing".parse::<Param>().is_err());
        assert!("k:=not json".parse::<Param>().is_err());
    }

    #[test]
    fn objects_keep_their_order_and_repeated_keys_their_first_place() {
        let p = param(r#"meta:={"b":1,"a":2,"b":3}"#);
        assert_eq!(
            p.value.php().expect("php"),
            PhpValue::Array(vec![
                ("b".into(), PhpValue::Int(3)),
                ("a".into(), PhpValue::Int(2))
            ])
        );
        let params = deduplicated(&[param("k=1"), param("z=3"), param("k=2")]);
        let flat: Vec<(&str, String)> = params
            .iter()
            .map(|p| (p.key.as_str(), p.value.text()))
            .collect();
        assert_eq!(flat, [("k", "2".to_owned()), ("z", "3".to_owned())]);
    }
}
