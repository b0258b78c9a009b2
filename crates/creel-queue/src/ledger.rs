//! The usage ledger of vendor accounts in Redis: per account, what it spent per day and month
//! (amount, vendor traffic, billed quantities), the budget overrides set at run time, and the
//! holds jobs take before billed work. Taking a hold checks every budget and counts the charge
//! in one script, so two workers cannot both take the last unit; a hold is keyed by its holder,
//! so a re-run after a crash finds it instead of counting twice. See `lua/ledger.lua`.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use creel_core::config::{Budget, CostsConfig};
use redis::AsyncCommands;
use serde::Serialize;

use crate::{Queue, QueueError};

/// How long a hold is remembered: longer than a month, so a job re-run within its budget's
/// period finds its hold.
const HOLD_TTL: Duration = Duration::from_secs(40 * 24 * 3600);

/// The most days one usage read covers.
pub const MAX_USAGE_DAYS: usize = 400;

/// What a hold counts against an account.
#[derive(Debug, Clone, PartialEq)]
pub struct Charge {
    /// In the account's currency.
    pub amount: f64,
    /// Bytes of vendor traffic.
    pub traffic_bytes: u64,
    /// The billed quantity's name, `<vendor>:<unit>` (e.g. `plaso:transcoded_hour`).
    pub quantity_of: String,
    /// How many of it.
    pub quantity: f64,
    /// What the charge counts against: the amount limits apply when its unit has a price,
    /// the traffic limits when it is traffic, even while its size is not known (0).
    pub counts: Counts,
}

/// Which budget limits a charge counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counts {
    /// The amount limits (`daily`, `monthly`).
    Amount,
    /// The traffic limits (`daily_traffic_bytes`, `monthly_traffic_bytes`).
    Traffic,
    /// Both.
    AmountAndTraffic,
    /// Neither (free work, counted for usage only).
    Nothing,
}

/// The answer to [`Queue::reserve`].
#[derive(Debug, Clone, PartialEq)]
pub enum Reservation {
    /// The charge is counted now.
    Taken,
    /// This holder's charge was counted by an earlier run (nothing counted again).
    AlreadyHeld,
    /// It would pass a budget: nothing was counted.
    Refused(BudgetRefusal),
}

/// Which budget a charge would pass.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BudgetRefusal {
    /// The limit: `daily`, `monthly`, `daily_traffic_bytes` or `monthly_traffic_bytes`.
    pub limit: String,
    /// What the period has used so far.
    pub used: f64,
    /// The limit's value.
    pub allowed: f64,
    /// When the limit's period ends (the job is due again then).
    pub resets_at: DateTime<Utc>,
}

impl std::fmt::Display for BudgetRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "budget {} would be passed: {} used of {} (resets at {})",
            self.limit,
            self.used,
            self.allowed,
            self.resets_at.to_rfc3339()
        )
    }
}

/// One day's (or month's) usage of an account.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Usage {
    /// `YYYY-MM-DD` (or `YYYY-MM` for a month).
    pub period: String,
    /// Spent, in the account's currency (estimates included).
    pub amount: f64,
    /// Bytes of vendor traffic.
    pub traffic_bytes: u64,
    /// Billed quantities by `<vendor>:<unit>`.
    pub quantities: BTreeMap<String, f64>,
}

/// An account's usage per day over a range, its totals, and its budget.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AccountUsage {
    /// The account.
    pub account: String,
    /// The currency of every amount.
    pub currency: String,
    /// One entry per day of the range, oldest first (days without use are zero).
    pub days: Vec<Usage>,
    /// The range's sums.
    pub total: Usage,
    /// The budget the ledger checks (configured, with the limits set at run time).
    pub budget: Budget,
    /// What today has used.
    pub today: Usage,
    /// What this month has used.
    pub this_month: Usage,
}

/// The budget limits set at run time, over the configured ones (`None`: the configured one
/// holds; `Some(None)`: lifted).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BudgetOverride {
    /// Per day, in the account's currency.
    pub daily: Option<Option<f64>>,
    /// Per month, in the account's currency.
    pub monthly: Option<Option<f64>>,
    /// Vendor traffic per day.
    pub daily_traffic_bytes: Option<Option<u64>>,
    /// Vendor traffic per month.
    pub monthly_traffic_bytes: Option<Option<u64>>,
}

impl BudgetOverride {
    /// `budget` with these overrides applied: what the ledger checks.
    #[must_use]
    pub fn apply(&self, budget: &Budget) -> Budget {
        Budget {
            daily: self.daily.unwrap_or(budget.daily),
            monthly: self.monthly.unwrap_or(budget.monthly),
            daily_traffic_bytes: self
                .daily_traffic_bytes
                .unwrap_or(budget.daily_traffic_bytes),
            monthly_traffic_bytes: self
                .monthly_traffic_bytes
                .unwrap_or(budget.monthly_traffic_bytes),
            min_free_traffic_bytes: budget.min_free_traffic_bytes,
            on_exceed: budget.on_exceed,
        }
    }
}

fn limit_arg(v: Option<impl ToString>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

impl Queue {
    fn ledger_base(&self, account: &str) -> String {
        format!("{}:usage:{{{account}}}", self.cfg.prefix)
    }

    /// Counts `charge` against `account` for `holder` (a job id and what the charge is for),
    /// unless it would pass one of `budget`'s limits (or the overrides set at run time); the
    /// day and month are `at`'s on the calendar of `costs`, which also says how long day
    /// counters are kept.
    ///
    /// # Errors
    /// Redis failed.
    pub async fn reserve(
        &self,
        account: &str,
        holder: &str,
        charge: &Charge,
        budget: &Budget,
        costs: &CostsConfig,
        at: DateTime<Utc>,
    ) -> Result<Reservation, QueueError> {
        let calendar = costs.calendar();
        let mut conn = self.conn.clone();
        let reply: Vec<String> = self
            .scripts
            .ledger
            .key(self.ledger_base(account))
            .arg("reserve")
            .arg(holder)
            .arg(calendar.day(at))
            .arg(calendar.month(at))
            .arg(u64::from(costs.retention_days) * 86_400)
            .arg(HOLD_TTL.as_secs())
            .arg(charge.amount)
            .arg(charge.traffic_bytes)
            .arg(&charge.quantity_of)
            .arg(charge.quantity)
            .arg(limit_arg(budget.daily))
            .arg(limit_arg(budget.monthly))
            .arg(limit_arg(budget.daily_traffic_bytes))
            .arg(limit_arg(budget.monthly_traffic_bytes))
            .arg(
                if matches!(charge.counts, Counts::Amount | Counts::AmountAndTraffic) {
                    "1"
                } else {
                    "0"
                },
            )
            .arg(
                if matches!(charge.counts, Counts::Traffic | Counts::AmountAndTraffic) {
                    "1"
                } else {
                    "0"
                },
            )
            .invoke_async(&mut conn)
            .await?;
        Ok(match reply.as_slice() {
            [ok, how] if ok == "1" && how == "held" => Reservation::AlreadyHeld,
            [ok, ..] if ok == "1" => Reservation::Taken,
            [_, limit, used, allowed] => Reservation::Refused(BudgetRefusal {
                resets_at: if limit.starts_with("daily") {
                    calendar.day_ends(at)
                } else {
                    calendar.month_ends(at)
                },
                limit: limit.clone(),
                used: used.parse().unwrap_or(0.0),
                allowed: allowed.parse().unwrap_or(0.0),
            }),
            other => {
                return Err(QueueError::Corrupt {
                    id: holder.to_owned(),
                    reason: format!("the ledger answered {other:?} to a reservation"),
                });
            }
        })
    }

    /// Whether `holder` has a hold on `account` (settled or not).
    ///
    /// # Errors
    /// Redis failed.
    pub async fn holds(&self, account: &str, holder: &str) -> Result<bool, QueueError> {
        let mut conn = self.conn.clone();
        Ok(conn
            .exists(format!("{}:hold:{holder}", self.ledger_base(account)))
            .await?)
    }

    /// Replaces `holder`'s estimated charge with what the work actually cost. Returns whether
    /// there was an unsettled hold to settle.
    ///
    /// # Errors
    /// Redis failed.
    pub async fn settle(
        &self,
        account: &str,
        holder: &str,
        actual: &Charge,
    ) -> Result<bool, QueueError> {
        let mut conn = self.conn.clone();
        let reply: Vec<i64> = self
            .scripts
            .ledger
            .key(self.ledger_base(account))
            .arg("settle")
            .arg(holder)
            .arg(actual.amount)
            .arg(actual.traffic_bytes)
            .arg(actual.quantity)
            .invoke_async(&mut conn)
            .await?;
        Ok(reply.first() == Some(&1))
    }

    /// Gives back `holder`'s unsettled charge (the billed work did not happen). Returns whether
    /// there was one.
    ///
    /// # Errors
    /// Redis failed.
    pub async fn release_hold(&self, account: &str, holder: &str) -> Result<bool, QueueError> {
        let mut conn = self.conn.clone();
        let reply: Vec<i64> = self
            .scripts
            .ledger
            .key(self.ledger_base(account))
            .arg("release")
            .arg(holder)
            .invoke_async(&mut conn)
            .await?;
        Ok(reply.first() == Some(&1))
    }

    /// The usage of `account` on each of `periods` (`YYYY-MM-DD` days or `YYYY-MM` months).
    ///
    /// # Errors
    /// Redis failed.
    pub async fn usage(&self, account: &str, periods: &[String]) -> Result<Vec<Usage>, QueueError> {
        let mut conn = self.conn.clone();
        let base = self.ledger_base(account);
        let mut pipe = redis::pipe();
        for p in periods {
            let kind = if p.len() == 7 { "m" } else { "d" };
            pipe.hgetall(format!("{base}:{kind}:{p}"));
        }
        let raw: Vec<BTreeMap<String, String>> = pipe.query_async(&mut conn).await?;
        Ok(periods
            .iter()
            .zip(raw)
            .map(|(period, fields)| {
                let mut u = Usage {
                    period: period.clone(),
                    ..Usage::default()
                };
                for (f, v) in fields {
                    match f.as_str() {
                        "amount" => u.amount = v.parse().unwrap_or(0.0),
                        "traffic_bytes" => u.traffic_bytes = v.parse().unwrap_or(0),
                        q => {
                            if let Some(name) = q.strip_prefix("q:") {
                                u.quantities
                                    .insert(name.to_owned(), v.parse().unwrap_or(0.0));
                            }
                        }
                    }
                }
                u
            })
            .collect())
    }

    /// The usage of `account` on `days` (see [`creel_core::UsageCalendar::range`]), their sums, today's
    /// and this month's, and its budget as the ledger checks it.
    ///
    /// # Errors
    /// Redis failed.
    pub async fn account_usage(
        &self,
        account: &str,
        costs: &CostsConfig,
        days: Vec<String>,
    ) -> Result<AccountUsage, QueueError> {
        let calendar = costs.calendar();
        let now = Utc::now();
        let mut periods = days;
        periods.push(calendar.day(now));
        periods.push(calendar.month(now));
        let mut read = self.usage(account, &periods).await?;
        let this_month = read.pop().unwrap_or_default();
        let today = read.pop().unwrap_or_default();
        let budget = self
            .budget_override(account)
            .await?
            .apply(&costs.budget(account));
        Ok(AccountUsage {
            account: account.to_owned(),
            currency: costs.currency(account),
            total: sum(&read),
            days: read,
            budget,
            today,
            this_month,
        })
    }

    /// The budget limits of `account` set at run time.
    ///
    /// # Errors
    /// Redis failed.
    pub async fn budget_override(&self, account: &str) -> Result<BudgetOverride, QueueError> {
        let mut conn = self.conn.clone();
        let fields: BTreeMap<String, String> = conn
            .hgetall(format!("{}:budget", self.ledger_base(account)))
            .await?;
        let amount = |f: &str| fields.get(f).map(|v| v.parse::<f64>().ok());
        let bytes = |f: &str| fields.get(f).map(|v| v.parse::<u64>().ok());
        Ok(BudgetOverride {
            daily: amount("daily"),
            monthly: amount("monthly"),
            daily_traffic_bytes: bytes("daily_traffic_bytes"),
            monthly_traffic_bytes: bytes("monthly_traffic_bytes"),
        })
    }

    /// Sets budget limits of `account` at run time (over the configured ones; `Some(None)`
    /// lifts a limit), then wakes every job waiting for a budget so each checks again. Returns
    /// how many were woken.
    ///
    /// # Errors
    /// Redis failed.
    pub async fn set_budget(
        &self,
        account: &str,
        change: &BudgetOverride,
    ) -> Result<usize, QueueError> {
        let mut conn = self.conn.clone();
        let key = format!("{}:budget", self.ledger_base(account));
        let text = |v: &Option<String>| v.clone().unwrap_or_else(|| "none".to_owned());
        let fields = [
            ("daily", change.daily.map(|v| v.map(|n| n.to_string()))),
            ("monthly", change.monthly.map(|v| v.map(|n| n.to_string()))),
            (
                "daily_traffic_bytes",
                change.daily_traffic_bytes.map(|v| v.map(|n| n.to_string())),
            ),
            (
                "monthly_traffic_bytes",
                change
                    .monthly_traffic_bytes
                    .map(|v| v.map(|n| n.to_string())),
            ),
        ];
        let set: Vec<(&str, String)> = fields
            .iter()
            .filter_map(|(f, v)| v.as_ref().map(|v| (*f, text(v))))
            .collect();
        if !set.is_empty() {
            let () = conn.hset_multiple(&key, &set).await?;
        }
        self.wake_waiting_budget().await
    }

    /// Makes every job waiting for a budget, in every queue, due now (each checks its budget
    /// again and waits on if it still would pass it), and flags every running one, so a step
    /// refused in the same instant hands over to a check due at once instead of waiting out
    /// its period. Returns how many were woken or flagged.
    ///
    /// # Errors
    /// Redis failed.
    pub async fn wake_waiting_budget(&self) -> Result<usize, QueueError> {
        let mut conn = self.conn.clone();
        let mut woken = 0;
        for queue in self.queues().await? {
            // Both lists first, each job once: a job woken from the first may be running by
            // the time the second is read.
            let mut ids = std::collections::BTreeSet::new();
            // The leases set is the index of 'running'.
            for suffix in ["state:waiting_budget", "leases"] {
                let key = self.cfg.queue_key(&queue, suffix);
                let listed: Vec<String> = conn.zrange(&key, 0, -1).await?;
                ids.extend(listed);
            }
            let ids: Vec<String> = ids.into_iter().collect();
            for chunk in ids.chunks(500) {
                woken += self
                    .wake_in(&queue, chunk.iter().map(String::as_str))
                    .await?
                    .iter()
                    .filter(|(_, st)| st == "waiting_budget" || st == "running")
                    .count();
            }
        }
        Ok(woken)
    }
}

/// The sums of `days`, as one usage over `first/last`.
fn sum(days: &[Usage]) -> Usage {
    let mut quantities: BTreeMap<String, f64> = BTreeMap::new();
    for d in days {
        for (k, v) in &d.quantities {
            *quantities.entry(k.clone()).or_default() += v;
        }
    }
    Usage {
        period: match (days.first(), days.last()) {
            (Some(a), Some(b)) => format!("{}/{}", a.period, b.period),
            _ => String::new(),
        },
        amount: days.iter().map(|d| d.amount).sum(),
        traffic_bytes: days.iter().map(|d| d.traffic_bytes).sum(),
        quantities,
    }
}
