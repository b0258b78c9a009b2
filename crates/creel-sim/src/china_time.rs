//! The vendors' time text: `YYYY-MM-DD HH:MM:SS` in China Standard Time (UTC+8), to and from
//! Unix seconds.

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone};

const FORMAT: &str = "%Y-%m-%d %H:%M:%S";

fn china() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| unreachable!("8 h is a valid offset"))
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SS` in UTC+8.
#[must_use]
pub fn format(unix: u64) -> String {
    DateTime::from_timestamp(i64::try_from(unix).unwrap_or(i64::MAX), 0)
        .unwrap_or_default()
        .with_timezone(&china())
        .format(FORMAT)
        .to_string()
}

/// `YYYY-MM-DD HH:MM:SS` (UTC+8) as Unix seconds; `None` when it is not that shape.
#[must_use]
pub fn parse(text: &str) -> Option<u64> {
    let local = NaiveDateTime::parse_from_str(text.trim(), FORMAT).ok()?;
    let at = china().from_local_datetime(&local).single()?;
    u64::try_from(at.timestamp()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_round_trip_and_match_known_instants() {
        // 2018-03-19 09:43:48 +08:00 (the document's example) is 1521423828.
        assert_eq!(parse("2018-03-19 09:43:48"), Some(1_521_423_828));
        assert_eq!(format(1_521_423_828), "2018-03-19 09:43:48");
        assert_eq!(parse("2018-13-01 00:00:00"), None);
        assert_eq!(parse("yesterday"), None);
    }
}
