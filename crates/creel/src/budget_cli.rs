//! `creel accounts …`: an account's usage as text, and budget limits given on the command line
//! (a number, or `none` to lift one).

use std::str::FromStr;

use creel_queue::AccountUsage;

/// A budget limit as given: a value, or `none`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit<T>(pub Option<T>);

impl<T: FromStr> FromStr for Limit<T> {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "none" {
            return Ok(Self(None));
        }
        let lower = s.to_ascii_lowercase();
        if s.starts_with('-') || lower.contains("inf") || lower.contains("nan") {
            return Err(format!("{s:?} is neither a non-negative number nor `none`"));
        }
        s.parse()
            .map(|v| Self(Some(v)))
            .map_err(|_| format!("{s:?} is neither a non-negative number nor `none`"))
    }
}

/// `usage` as lines: one per day with use, then the totals and the budget.
#[must_use]
pub fn usage_text(usage: &AccountUsage) -> String {
    let line = |label: &str, u: &creel_queue::Usage| {
        let quantities = u
            .quantities
            .iter()
            .map(|(k, v)| format!(" {k}={v}"))
            .collect::<String>();
        format!(
            "{label:<21} {:>12.2} {} {:>14} bytes{quantities}\n",
            u.amount, usage.currency, u.traffic_bytes
        )
    };
    let mut text = format!("account {}\n", usage.account);
    for d in usage
        .days
        .iter()
        .filter(|d| d.amount != 0.0 || d.traffic_bytes != 0 || !d.quantities.is_empty())
    {
        text.push_str(&line(&d.period, d));
    }
    text.push_str(&line("total", &usage.total));
    text.push_str(&line("today", &usage.today));
    text.push_str(&line("this month", &usage.this_month));
    let limit = |v: Option<String>| v.unwrap_or_else(|| "none".to_owned());
    let b = &usage.budget;
    text.push_str(&format!(
        "budget: daily {} monthly {} daily_traffic_bytes {} monthly_traffic_bytes {} on_exceed {:?}",
        limit(b.daily.map(|v| v.to_string())),
        limit(b.monthly.map(|v| v.to_string())),
        limit(b.daily_traffic_bytes.map(|v| v.to_string())),
        limit(b.monthly_traffic_bytes.map(|v| v.to_string())),
        b.on_exceed,
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_numbers_or_none() {
        assert_eq!("2.5".parse::<Limit<f64>>(), Ok(Limit(Some(2.5))));
        assert_eq!("none".parse::<Limit<u64>>(), Ok(Limit(None)));
        assert!("-1".parse::<Limit<u64>>().is_err());
        assert!("lots".parse::<Limit<f64>>().is_err());
    }
}
