//! What a job cost: the cost lines its result and completion event carry, summed over a
//! parent and its children, and the usage calendar (which day and month a charge falls in,
//! and when a budget's period ends).

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, Offset, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::config::{CostUnit, Vendor};

/// Whether a cost line is what creel counted before the vendor billed, or what the vendor's
/// answer (or the bytes moved) showed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CostBasis {
    /// Counted from configuration before the work (Plaso's hours: Plaso reports no length).
    Estimated,
    /// Measured (bytes downloaded from the vendor).
    Actual,
}

/// One line of a job's cost: `quantity` units of `unit` at one vendor account, `amount` in
/// `currency`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostLine {
    /// The vendor.
    pub vendor: Vendor,
    /// The vendor account's name in config.
    pub account: String,
    /// What the vendor bills in.
    pub unit: CostUnit,
    /// How many units.
    pub quantity: f64,
    /// What they cost.
    pub amount: f64,
    /// The amount's currency.
    pub currency: String,
    /// Estimated or measured.
    pub basis: CostBasis,
}

impl CostLine {
    /// The vendor traffic the line counts, in whole bytes (0 for any other unit).
    #[must_use]
    pub fn traffic_bytes(&self) -> u64 {
        if self.unit == CostUnit::TrafficBytes {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let bytes = self.quantity.max(0.0) as u64;
            bytes
        } else {
            0
        }
    }
}

/// Sums lines of the same vendor, account, unit, currency and basis (a parent's own lines with
/// its children's), in a stable order.
#[must_use]
pub fn merge_costs(lines: impl IntoIterator<Item = CostLine>) -> Vec<CostLine> {
    let mut out: Vec<CostLine> = Vec::new();
    for line in lines {
        match out.iter_mut().find(|o| {
            o.vendor == line.vendor
                && o.account == line.account
                && o.unit == line.unit
                && o.currency == line.currency
                && o.basis == line.basis
        }) {
            Some(o) => {
                o.quantity += line.quantity;
                o.amount += line.amount;
            }
            None => out.push(line),
        }
    }
    out.sort_by(|a, b| {
        (a.vendor, &a.account, a.unit, &a.currency, a.basis).cmp(&(
            b.vendor,
            &b.account,
            b.unit,
            &b.currency,
            b.basis,
        ))
    });
    out
}

/// The days and months usage is counted in: midnights of a fixed UTC offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageCalendar {
    offset: FixedOffset,
}

impl UsageCalendar {
    /// The calendar of `utc_offset_minutes` (`costs.utc_offset_minutes`, validated to ±14 h;
    /// anything else is taken as UTC).
    #[must_use]
    pub fn new(utc_offset_minutes: i32) -> Self {
        let offset = FixedOffset::east_opt(utc_offset_minutes * 60).unwrap_or_else(|| Utc.fix());
        Self { offset }
    }

    /// The day `at` falls in, `YYYY-MM-DD`.
    #[must_use]
    pub fn day(&self, at: DateTime<Utc>) -> String {
        at.with_timezone(&self.offset)
            .format("%Y-%m-%d")
            .to_string()
    }

    /// The month `at` falls in, `YYYY-MM`.
    #[must_use]
    pub fn month(&self, at: DateTime<Utc>) -> String {
        at.with_timezone(&self.offset).format("%Y-%m").to_string()
    }

    /// When the day of `at` ends (the next midnight).
    #[must_use]
    pub fn day_ends(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        let local = at.with_timezone(&self.offset).date_naive();
        self.midnight(local + Duration::days(1))
            .unwrap_or(at + Duration::days(1))
    }

    /// When the month of `at` ends (midnight of the next month's first day).
    #[must_use]
    pub fn month_ends(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        let local = at.with_timezone(&self.offset).date_naive();
        let (y, m) = if local.month() == 12 {
            (local.year() + 1, 1)
        } else {
            (local.year(), local.month() + 1)
        };
        NaiveDate::from_ymd_opt(y, m, 1)
            .and_then(|d| self.midnight(d))
            .unwrap_or(at + Duration::days(31))
    }

    /// A time as vendors and requests write it, in this calendar's zone: `YYYY-MM-DD HH:MM:SS`,
    /// `YYYY-MM-DD` (its midnight) or Unix seconds; `None` for anything else.
    #[must_use]
    pub fn parse_time(&self, text: &str) -> Option<DateTime<Utc>> {
        let text = text.trim();
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            return DateTime::from_timestamp(text.parse().ok()?, 0);
        }
        let local = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S")
            .ok()
            .or_else(|| {
                NaiveDate::parse_from_str(text, "%Y-%m-%d")
                    .ok()?
                    .and_hms_opt(0, 0, 0)
            })?;
        self.offset
            .from_local_datetime(&local)
            .single()
            .map(|t| t.with_timezone(&Utc))
    }

    /// Like [`UsageCalendar::parse_time`], but a bare date (`YYYY-MM-DD`) is the last second
    /// of that day: what "made on or before <date>" means.
    #[must_use]
    pub fn parse_end(&self, text: &str) -> Option<DateTime<Utc>> {
        let at = self.parse_time(text)?;
        if NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").is_ok() {
            return Some(self.day_ends(at) - Duration::seconds(1));
        }
        Some(at)
    }

    /// `at` as `YYYY-MM-DD HH:MM:SS` in this calendar's zone (what vendor filters take).
    #[must_use]
    pub fn format_time(&self, at: DateTime<Utc>) -> String {
        at.with_timezone(&self.offset)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
    }

    /// The days of a usage request: `from` to `to` (`YYYY-MM-DD`), by default the 30 days up
    /// to today (`now`'s day). The error names the bad field (`from` or `to`) and says why.
    pub fn range(
        &self,
        from: Option<&str>,
        to: Option<&str>,
        max_days: usize,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, (&'static str, String)> {
        let parse = |text: &str, field: &'static str| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map_err(|_| (field, format!("{text:?} is not a date (YYYY-MM-DD)")))
        };
        let to = match to {
            Some(t) => parse(t, "to")?,
            None => at_day(self.day(now)),
        };
        let from = match from {
            Some(f) => parse(f, "from")?,
            None => to - Duration::days(29),
        };
        if from > to {
            return Err(("from", "must be on or before `to`".to_owned()));
        }
        let days: Vec<String> = from
            .iter_days()
            .take_while(|d| *d <= to)
            .take(max_days + 1)
            .map(|d| d.format("%Y-%m-%d").to_string())
            .collect();
        if days.len() > max_days {
            return Err((
                "from",
                format!("the range may cover at most {max_days} days"),
            ));
        }
        Ok(days)
    }

    fn midnight(&self, day: NaiveDate) -> Option<DateTime<Utc>> {
        self.offset
            .from_local_datetime(&day.and_hms_opt(0, 0, 0)?)
            .single()
            .map(|t| t.with_timezone(&Utc))
    }
}

/// The date `text` names (it was formatted by [`UsageCalendar::day`]).
fn at_day(text: String) -> NaiveDate {
    NaiveDate::parse_from_str(&text, "%Y-%m-%d").unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(account: &str, quantity: f64, basis: CostBasis) -> CostLine {
        CostLine {
            vendor: Vendor::Baijiayun,
            account: account.into(),
            unit: CostUnit::TrafficBytes,
            quantity,
            amount: quantity / 10.0,
            currency: "CNY".into(),
            basis,
        }
    }

    #[test]
    fn lines_of_one_account_unit_and_basis_are_summed() {
        let merged = merge_costs([
            line("b", 10.0, CostBasis::Actual),
            line("a", 1.0, CostBasis::Actual),
            line("b", 5.0, CostBasis::Actual),
            line("b", 2.0, CostBasis::Estimated),
        ]);
        assert_eq!(merged.len(), 3);
        assert_eq!(merged[0].account, "a");
        let b = merged
            .iter()
            .find(|l| l.account == "b" && l.basis == CostBasis::Actual)
            .expect("b, actual");
        assert!((b.quantity - 15.0).abs() < 1e-9);
        assert!((b.amount - 1.5).abs() < 1e-9);
    }

    #[test]
    fn days_and_months_turn_at_the_offsets_midnight() {
        let cal = UsageCalendar::new(480);
        let at = Utc
            .with_ymd_and_hms(2026, 12, 31, 16, 30, 0)
            .single()
            .expect("time");
        assert_eq!(cal.day(at), "2027-01-01");
        assert_eq!(cal.month(at), "2027-01");
        let before = Utc
            .with_ymd_and_hms(2026, 12, 31, 15, 59, 0)
            .single()
            .expect("time");
        assert_eq!(cal.day(before), "2026-12-31");
        assert_eq!(
            cal.day_ends(before),
            Utc.with_ymd_and_hms(2026, 12, 31, 16, 0, 0)
                .single()
                .expect("time")
        );
        assert_eq!(
            cal.month_ends(before),
            Utc.with_ymd_and_hms(2026, 12, 31, 16, 0, 0)
                .single()
                .expect("time")
        );
        assert_eq!(
            cal.range(Some("2026-02-27"), Some("2026-03-01"), 10, at)
                .expect("range"),
            ["2026-02-27", "2026-02-28", "2026-03-01"]
        );
        assert_eq!(cal.range(None, None, 40, at).expect("default").len(), 30);
        assert_eq!(
            cal.range(None, None, 40, at).expect("default")[29],
            "2027-01-01"
        );
        assert_eq!(
            cal.range(Some("2026-03-02"), Some("2026-03-01"), 10, at)
                .expect_err("order")
                .0,
            "from"
        );
        assert_eq!(
            cal.range(Some("2026-01-01"), Some("2026-03-01"), 10, at)
                .expect_err("long")
                .0,
            "from"
        );
        assert_eq!(
            cal.range(None, Some("yesterday"), 10, at)
                .expect_err("bad")
                .0,
            "to"
        );
        let t = cal.parse_time("2018-03-19 09:43:48").expect("vendor text");
        assert_eq!(t.timestamp(), 1_521_423_828);
        assert_eq!(cal.parse_time("1521423828"), Some(t));
        assert_eq!(cal.format_time(t), "2018-03-19 09:43:48");
        assert_eq!(
            cal.parse_time("2018-03-19").expect("date").timestamp(),
            1_521_388_800
        );
        assert!(cal.parse_time("soon").is_none());
        assert_eq!(
            cal.format_time(cal.parse_end("2018-03-19").expect("end")),
            "2018-03-19 23:59:59"
        );
        assert_eq!(cal.parse_end("1521423828"), Some(t));
    }
}
