//! Redaction of what must not leave the process: the query values of URLs (presigned
//! `X-Amz-Signature`, vendor `sign`/`token`/`t` parameters) in error texts, results, events and
//! logs, and the password of a connection URL.

/// `text` with the value of every query parameter of every http(s) URL in it replaced by
/// `***` (names are kept, so an operator still sees which parameters there were).
#[must_use]
pub fn redact_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = find_url_start(rest) {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`' | '\\'))
            .unwrap_or(tail.len());
        // A URL quoted in prose often ends with punctuation that is not part of it.
        let mut candidate = &tail[..end];
        while candidate.ends_with([')', ',', '.', ';', ']', '}']) {
            candidate = &candidate[..candidate.len() - 1];
        }
        out.push_str(&redact_one(candidate));
        rest = &tail[candidate.len()..];
    }
    out.push_str(rest);
    out
}

fn find_url_start(text: &str) -> Option<usize> {
    let lower = text.to_ascii_lowercase();
    match (lower.find("http://"), lower.find("https://")) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn redact_one(candidate: &str) -> String {
    let Some((base, query)) = candidate.split_once('?') else {
        return candidate.to_owned();
    };
    let (query, fragment) = match query.split_once('#') {
        Some((q, f)) => (q, Some(f)),
        None => (query, None),
    };
    let redacted: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, value)) if !value.is_empty() => format!("{name}=***"),
            _ => pair.to_owned(),
        })
        .collect();
    let mut out = format!("{base}?{}", redacted.join("&"));
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

/// A connection URL (`redis://user:password@host/`) with its password replaced by `***`.
#[must_use]
pub fn mask_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        // Not a URL: keep only its scheme, in case the rest holds a secret.
        Err(_) => match url.split_once("://") {
            Some((scheme, _)) => format!("{scheme}://***"),
            None => "***".to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_redacted_wherever_a_url_stands() {
        let text = "source transfer failed: error sending request for url (https://b.s3.amazonaws.com/v.mp4?X-Amz-Credential=AKIA%2F&X-Amz-Signature=deadbeef&flag) at 3";
        let r = redact_urls(text);
        assert!(!r.contains("deadbeef") && !r.contains("AKIA"), "{r}");
        assert!(
            r.contains("X-Amz-Signature=***") && r.contains("&flag) at 3"),
            "{r}"
        );
        let json = r#"{"url":"http://cdn.example.com/a.mp4?token=s3cr3t&t=123#x","n":1}"#;
        let r = redact_urls(json);
        assert_eq!(
            r,
            r#"{"url":"http://cdn.example.com/a.mp4?token=***&t=***#x","n":1}"#
        );
        assert_eq!(redact_urls("no url here"), "no url here");
        assert_eq!(redact_urls("HTTPS://X/y?sign=1."), "HTTPS://X/y?sign=***.");
    }

    #[test]
    fn passwords_are_masked() {
        assert_eq!(
            mask_password("redis://:hunter2@10.0.0.1:6379/0"),
            "redis://:***@10.0.0.1:6379/0"
        );
        assert_eq!(
            mask_password("redis://user:hunter2@h/"),
            "redis://user:***@h/"
        );
        assert_eq!(mask_password("redis://h:6379/"), "redis://h:6379/");
        assert!(!mask_password("redis://:hun ter2@h:x").contains("hun"));
    }
}
