//! PHP `serialize()` of request parameters, byte-identical to PHP's output: `i:123;`,
//! `s:<byte length>:"<raw bytes>";`, `b:1;`, `N;` and arrays `a:<n>:{<key><value>…}` (no `;`
//! after `}`), in insertion order; a string key that is a canonical decimal integer becomes an
//! integer key, as PHP's arrays do.

/// A PHP value, as WeClassroom's parameters need them. Types matter: the vendor answers 40002
/// when an id arrives as a string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhpValue {
    /// `N;`
    Null,
    /// `b:0;` / `b:1;`
    Bool(bool),
    /// `i:<n>;`
    Int(i64),
    /// `s:<bytes>:"…";` (also fields documented as "json 字符串": a string holding JSON).
    Str(String),
    /// An ordered array (fields documented as "数组"); lists use keys `0..n`.
    Array(Vec<(String, PhpValue)>),
}

impl PhpValue {
    /// A string value.
    pub fn str(s: impl Into<String>) -> Self {
        Self::Str(s.into())
    }

    /// A list (`a:n:{i:0;…}`).
    #[must_use]
    pub fn list(items: Vec<PhpValue>) -> Self {
        Self::Array(
            items
                .into_iter()
                .enumerate()
                .map(|(i, v)| (i.to_string(), v))
                .collect(),
        )
    }
}

/// Whether PHP would store `key` as an integer key: a canonical decimal integer (no leading
/// zeros or `+`, `-0` excluded) that fits in an i64.
fn integer_key(key: &str) -> Option<i64> {
    let digits = key.strip_prefix('-').unwrap_or(key);
    let canonical = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'))
        && key != "-0";
    if canonical { key.parse().ok() } else { None }
}

fn write_str(out: &mut String, s: &str) {
    out.push_str(&format!("s:{}:\"", s.len()));
    out.push_str(s);
    out.push_str("\";");
}

fn write_value(out: &mut String, value: &PhpValue) {
    match value {
        PhpValue::Null => out.push_str("N;"),
        PhpValue::Bool(b) => out.push_str(if *b { "b:1;" } else { "b:0;" }),
        PhpValue::Int(i) => out.push_str(&format!("i:{i};")),
        PhpValue::Str(s) => write_str(out, s),
        PhpValue::Array(entries) => write_array(out, entries),
    }
}

fn write_array(out: &mut String, entries: &[(String, PhpValue)]) {
    out.push_str(&format!("a:{}:{{", entries.len()));
    for (k, v) in entries {
        match integer_key(k) {
            Some(i) => out.push_str(&format!("i:{i};")),
            None => write_str(out, k),
        }
        write_value(out, v);
    }
    out.push('}');
}

/// `serialize($params)` for an associative array of parameters.
#[must_use]
pub fn serialize(params: &[(String, PhpValue)]) -> String {
    let mut out = String::new();
    write_array(&mut out, params);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_and_arrays_match_php() {
        let params = vec![
            ("lessonId".to_owned(), PhpValue::Int(10_384_374)),
            ("diskId".to_owned(), PhpValue::Int(356)),
        ];
        assert_eq!(
            serialize(&params),
            r#"a:2:{s:8:"lessonId";i:10384374;s:6:"diskId";i:356;}"#
        );
        let nested = vec![
            ("名字".to_owned(), PhpValue::str("测试")),
            ("7".to_owned(), PhpValue::Bool(true)),
            ("07".to_owned(), PhpValue::Null),
            (
                "ids".to_owned(),
                PhpValue::list(vec![PhpValue::Int(1), PhpValue::str("x")]),
            ),
        ];
        assert_eq!(
            serialize(&nested),
            r#"a:4:{s:6:"名字";s:6:"测试";i:7;b:1;s:2:"07";N;s:3:"ids";a:2:{i:0;i:1;i:1;s:1:"x";}}"#
        );
    }

    #[test]
    fn integer_keys_are_canonical_only() {
        assert_eq!(integer_key("0"), Some(0));
        assert_eq!(integer_key("-5"), Some(-5));
        assert_eq!(integer_key("-0"), None);
        assert_eq!(integer_key("007"), None);
        assert_eq!(integer_key("+7"), None);
        assert_eq!(integer_key("99999999999999999999"), None);
    }
}
