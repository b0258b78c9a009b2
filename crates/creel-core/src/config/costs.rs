//! What vendor work costs and how much of it an account may spend (`costs`): the calendar the
//! usage counters keep (days and months in the vendors' time zone), how long they are kept,
//! and per account its prices (over the vendor's documented ones) and its budgets.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Vendor;
use super::error::ConfigError;

/// `[costs]`: the usage calendar and the accounts' prices and budgets.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CostsConfig {
    /// The offset from UTC, in minutes, of the time zone whose midnights begin a usage day and
    /// month (and reset daily and monthly budgets). Default 480 (UTC+8, China Standard Time,
    /// which the vendors bill in).
    pub utc_offset_minutes: i32,
    /// How long per-day usage counters are kept, in days (monthly ones are kept as long plus
    /// a month).
    pub retention_days: u32,
    /// Per vendor account (by its name in `accounts`): prices and budgets.
    pub accounts: BTreeMap<String, AccountCosts>,
}

impl Default for CostsConfig {
    fn default() -> Self {
        Self {
            utc_offset_minutes: 480,
            retention_days: 400,
            accounts: BTreeMap::new(),
        }
    }
}

/// `[costs.accounts.<name>]`: one account's prices and budget.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccountCosts {
    /// The price of one unit of the vendor's billing (see [`Pricing`]), over the documented one.
    pub unit_price: Option<f64>,
    /// The currency of the prices and budgets; default `CNY`.
    pub currency: Option<String>,
    /// Plaso: how many transcoded hours one export is counted as before Plaso has billed it
    /// (Plaso says neither a classroom's length nor the video's); default 1.
    pub estimated_hours: Option<f64>,
    /// The account's budget.
    pub budget: Budget,
}

/// What one account may spend. Every limit is optional; a submission that would pass one
/// does not happen (it waits or fails, by [`Budget::on_exceed`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Budget {
    /// The most the account may spend per day, in its currency.
    pub daily: Option<f64>,
    /// The most the account may spend per month, in its currency.
    pub monthly: Option<f64>,
    /// The most vendor traffic (bytes downloaded from the vendor) per day.
    pub daily_traffic_bytes: Option<u64>,
    /// The most vendor traffic per month.
    pub monthly_traffic_bytes: Option<u64>,
    /// Baijiayun: the traffic of the VOD package (`getAccountInfo`) that must stay free; a
    /// download that would leave less does not start.
    pub min_free_traffic_bytes: Option<u64>,
    /// What a job whose submission would pass a limit does.
    pub on_exceed: OnExceed,
}

/// What a job does when its submission would pass a budget.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnExceed {
    /// Wait in state `waiting_budget` until the day or month rolls over or the budget is
    /// raised (`creel accounts budget set`).
    #[default]
    Wait,
    /// Fail for good, naming the budget.
    Fail,
}

/// What a vendor bills for, and the price creel counts per unit.
#[derive(Debug, Clone, PartialEq)]
pub struct Pricing {
    /// The billed unit.
    pub unit: CostUnit,
    /// The price per unit ([`CostUnit::TranscodedHour`]: per hour;
    /// [`CostUnit::TrafficBytes`]: per GiB).
    pub unit_price: f64,
    /// The currency.
    pub currency: String,
}

/// A unit a vendor bills in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CostUnit {
    /// Hours of transcoded video (Plaso's export, 1 CNY per hour: seed 000, `transferVideo`).
    TranscodedHour,
    /// Bytes of traffic downloaded from the vendor (Baijiayun's VOD traffic package).
    TrafficBytes,
}

impl CostUnit {
    /// The unit's name in events, counters and the usage API.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TranscodedHour => "transcoded_hour",
            Self::TrafficBytes => "traffic_bytes",
        }
    }

    /// The amount `quantity` units cost at `unit_price` (per hour, or per GiB of traffic).
    #[must_use]
    pub fn amount(self, quantity: f64, unit_price: f64) -> f64 {
        match self {
            Self::TranscodedHour => quantity * unit_price,
            Self::TrafficBytes => quantity / f64::from(1u32 << 30) * unit_price,
        }
    }
}

/// The currency when an account names none.
pub const DEFAULT_CURRENCY: &str = "CNY";

impl CostsConfig {
    /// The prices of `account` (a `vendor` account): the vendor's documented ones (Plaso 1 CNY
    /// per transcoded hour; Baijiayun's traffic at 0, since its package price is the school's
    /// contract) unless the account sets its own. `None` for a vendor that bills nothing creel
    /// does (WeClassroom).
    #[must_use]
    pub fn pricing(&self, vendor: Vendor, account: &str) -> Option<Pricing> {
        let (unit, documented) = match vendor {
            Vendor::Plaso => (CostUnit::TranscodedHour, 1.0),
            Vendor::Baijiayun => (CostUnit::TrafficBytes, 0.0),
            Vendor::Weclassroom => return None,
        };
        let own = self.accounts.get(account);
        Some(Pricing {
            unit,
            unit_price: own.and_then(|a| a.unit_price).unwrap_or(documented),
            currency: self.currency(account),
        })
    }

    /// The currency of `account`'s prices and budgets.
    #[must_use]
    pub fn currency(&self, account: &str) -> String {
        self.accounts
            .get(account)
            .and_then(|a| a.currency.clone())
            .unwrap_or_else(|| DEFAULT_CURRENCY.to_owned())
    }

    /// The usage calendar: days and months at `utc_offset_minutes`.
    #[must_use]
    pub fn calendar(&self) -> crate::UsageCalendar {
        crate::UsageCalendar::new(self.utc_offset_minutes)
    }

    /// The hours one Plaso export of `account` is counted as.
    #[must_use]
    pub fn estimated_hours(&self, account: &str) -> f64 {
        self.accounts
            .get(account)
            .and_then(|a| a.estimated_hours)
            .unwrap_or(1.0)
    }

    /// The budget of `account` (no limits when none is configured).
    #[must_use]
    pub fn budget(&self, account: &str) -> Budget {
        self.accounts
            .get(account)
            .map(|a| a.budget.clone())
            .unwrap_or_default()
    }

    /// Checks the offsets, prices and limits; `accounts` are the configured vendor accounts.
    pub fn validate(
        &self,
        accounts: &BTreeMap<String, super::VendorAccount>,
    ) -> Result<(), ConfigError> {
        if self.utc_offset_minutes.abs() > 14 * 60 {
            return Err(ConfigError::invalid(
                "costs.utc_offset_minutes",
                "must be within -840 to 840 (UTC-14:00 to UTC+14:00)",
            ));
        }
        if self.retention_days == 0 {
            return Err(ConfigError::invalid(
                "costs.retention_days",
                "must be positive",
            ));
        }
        for (name, a) in &self.accounts {
            let field = format!("costs.accounts.{name}");
            if !accounts.contains_key(name) {
                return Err(ConfigError::NotConfigured {
                    field,
                    what: "vendor account (in accounts)",
                    name: name.clone(),
                });
            }
            let non_negative = [
                ("unit_price", a.unit_price),
                ("estimated_hours", a.estimated_hours),
                ("budget.daily", a.budget.daily),
                ("budget.monthly", a.budget.monthly),
            ];
            for (f, v) in non_negative {
                if v.is_some_and(|v| !v.is_finite() || v < 0.0) {
                    return Err(ConfigError::invalid(
                        format!("{field}.{f}"),
                        "must be a finite number, 0 or more",
                    ));
                }
            }
            if a.currency
                .as_ref()
                .is_some_and(|c| c.len() != 3 || !c.chars().all(|ch| ch.is_ascii_uppercase()))
            {
                return Err(ConfigError::invalid(
                    format!("{field}.currency"),
                    "must be a three-letter ISO 4217 code such as CNY",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_prices_apply_unless_the_account_sets_its_own() {
        let mut c = CostsConfig::default();
        let plaso = c.pricing(Vendor::Plaso, "p").expect("plaso bills");
        assert_eq!(plaso.unit, CostUnit::TranscodedHour);
        assert!((plaso.unit_price - 1.0).abs() < f64::EPSILON);
        assert_eq!(plaso.currency, "CNY");
        assert!(c.pricing(Vendor::Weclassroom, "w").is_none());
        c.accounts.insert(
            "b".into(),
            AccountCosts {
                unit_price: Some(0.5),
                ..AccountCosts::default()
            },
        );
        let bjy = c.pricing(Vendor::Baijiayun, "b").expect("baijiayun");
        assert_eq!(bjy.unit, CostUnit::TrafficBytes);
        assert!(
            (CostUnit::TrafficBytes.amount(f64::from(1u32 << 31), bjy.unit_price) - 1.0).abs()
                < 1e-9
        );
    }

    #[test]
    fn bad_costs_name_their_field() {
        let mut c = CostsConfig::default();
        c.accounts.insert("nobody".into(), AccountCosts::default());
        let err = c.validate(&BTreeMap::new()).expect_err("unknown account");
        assert_eq!(err.field(), "costs.accounts.nobody");
        c.utc_offset_minutes = 900;
        assert_eq!(
            c.validate(&BTreeMap::new()).expect_err("offset").field(),
            "costs.utc_offset_minutes"
        );
    }
}
