//! The `Retry-After` header (RFC 9110 §10.2.3), the one parser for every client in creel: a
//! number of seconds, or an HTTP-date (IMF-fixdate, or the obsolete RFC 850 and asctime forms
//! a server may still send), read as the time left until then.

use std::time::{Duration, SystemTime};

/// How long `Retry-After: <value>` asks the client to wait, seen at `now`; a date already
/// past is zero. `None` for a value that is neither form.
#[must_use]
pub fn parse(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return value.parse::<u64>().ok().map(Duration::from_secs);
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sun, 06 Nov 1994 08:49:37 GMT, RFC 9110's example date.
    fn example_now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777)
    }

    #[test]
    fn seconds_and_every_date_form() {
        let now = example_now();
        assert_eq!(parse("120", now), Some(Duration::from_secs(120)));
        assert_eq!(parse(" 0 ", now), Some(Duration::ZERO));
        for later in [
            "Sun, 06 Nov 1994 08:51:37 GMT",
            "Sunday, 06-Nov-94 08:51:37 GMT",
            "Sun Nov  6 08:51:37 1994",
        ] {
            assert_eq!(parse(later, now), Some(Duration::from_secs(120)), "{later}");
        }
        assert_eq!(
            parse("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO),
            "a date already past"
        );
        for junk in ["", "-5", "1.5", "soon", "Sun, 32 Nov 1994 08:51:37 GMT"] {
            assert_eq!(parse(junk, now), None, "{junk:?}");
        }
    }
}
