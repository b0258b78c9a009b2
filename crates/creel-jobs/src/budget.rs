//! Costs and budgets of job steps: the hold a billed vendor submission takes before it acts,
//! the hold a vendor download takes for its traffic (settled with the bytes that came), both
//! checked against the account's budgets in one atomic step shared by the fleet, and the cost
//! lines a job's result carries.

use std::time::Duration;

use creel_core::config::{CostUnit, CostsConfig, OnExceed, Vendor};
use creel_core::{CostBasis, CostLine, JobError, JobId};
use creel_queue::{Charge, Counts, JobContext, Reservation, StepOutcome};
use creel_vendors::baijiayun::model::AccountInfo;

use crate::JobDeps;

/// What a step may do after asking for its hold.
#[derive(Debug)]
pub(crate) enum Hold {
    /// Go on; the cost line the hold counted (none for work the vendor does not bill).
    Go(Option<CostLine>),
    /// Stop here: the job waits for its budget (return this outcome).
    Wait(StepOutcome),
}

/// What a hold is for, which names it within its job.
#[derive(Debug, Clone, Copy)]
pub(crate) enum HoldFor {
    /// A vendor submission billed per transcoded hour (Plaso's export), one per run of the
    /// job (a requeued job may submit again).
    Submission,
    /// Traffic of a download: one hold per run of the job (a requeued job moves its bytes
    /// again), taken by its first attempt and found by the attempts after it, settled with the
    /// bytes of the attempt that stored the object.
    Traffic,
}

impl HoldFor {
    fn holder(self, ctx: &JobContext) -> String {
        self.holder_of(&ctx.id, ctx.runs)
    }

    /// The holder name of job `id` in its run `runs`.
    fn holder_of(self, id: &JobId, runs: u32) -> String {
        match self {
            Self::Submission => format!("{id}:submit:{runs}"),
            Self::Traffic => format!("{id}:traffic:{runs}"),
        }
    }
}

/// The cost line of `quantity` units at `account` of `vendor` at the prices of `costs`, or
/// `None` when that vendor bills nothing creel counts.
#[must_use]
pub fn cost_line(
    costs: &CostsConfig,
    vendor: Vendor,
    account: &str,
    quantity: f64,
    basis: CostBasis,
) -> Option<CostLine> {
    let pricing = costs.pricing(vendor, account)?;
    Some(CostLine {
        vendor,
        account: account.to_owned(),
        unit: pricing.unit,
        quantity,
        amount: pricing.unit.amount(quantity, pricing.unit_price),
        currency: pricing.currency,
        basis,
    })
}

fn charge_of(deps: &JobDeps, line: &CostLine) -> Charge {
    let priced = deps
        .config
        .costs
        .pricing(line.vendor, &line.account)
        .is_some_and(|p| p.unit_price > 0.0);
    let traffic = line.unit == CostUnit::TrafficBytes;
    Charge {
        counts: match (priced, traffic) {
            (true, true) => Counts::AmountAndTraffic,
            (true, false) => Counts::Amount,
            (false, true) => Counts::Traffic,
            (false, false) => Counts::Nothing,
        },
        amount: line.amount,
        traffic_bytes: line.traffic_bytes(),
        quantity_of: format!("{}:{}", line.vendor, line.unit.as_str()),
        quantity: line.quantity,
    }
}

/// Takes the hold for `what` of `line` (estimated) against its account's budget. A hold this
/// job took in an earlier run is found, not counted again.
///
/// # Errors
/// Redis failed (retryable), or the budget would be passed and the account's budget says to
/// fail (permanent, naming the budget).
pub(crate) async fn hold(
    ctx: &JobContext,
    deps: &JobDeps,
    what: HoldFor,
    line: Option<CostLine>,
) -> Result<Hold, JobError> {
    let Some(line) = line else {
        return Ok(Hold::Go(None));
    };
    let costs = &deps.config.costs;
    let budget = costs.budget(&line.account);
    let reservation = deps
        .queue
        .reserve(
            &line.account,
            &what.holder(ctx),
            &charge_of(deps, &line),
            &budget,
            costs,
            chrono::Utc::now(),
        )
        .await
        .map_err(|e| JobError::retryable(format!("taking the budget hold: {e}")))?;
    match reservation {
        Reservation::Taken | Reservation::AlreadyHeld => Ok(Hold::Go(Some(line))),
        Reservation::Refused(r) => {
            let (alone, unit) = alone(&line, &r.limit);
            if r.allowed < alone {
                return Err(JobError::permanent(format!(
                    "account {}: this step alone ({alone} {unit}) is more than the budget {} ({}): it could never run",
                    line.account, r.limit, r.allowed
                )));
            }
            refused(
                &line.account,
                &r.limit,
                &r.to_string(),
                r.resets_at,
                budget.on_exceed,
            )
            .map(Hold::Wait)
        }
    }
}

/// How long a Baijiayun package reading (`getAccountInfo`) is used before it is read again:
/// Baijiayun counts traffic once a day, and creel adds what it downloaded since.
const PACKAGE_READING_TTL: Duration = Duration::from_secs(15 * 60);

/// Checks the traffic floor of a Baijiayun account (`budget.min_free_traffic_bytes`) before a
/// download of `expected` bytes: the package's traffic left by Baijiayun's last count
/// (`getAccountInfo`, read through the quota and kept for a while), less what creel downloaded
/// today, less this download, must stay at or above the floor. `Some(outcome)` when the job
/// waits; no floor or no package limit: `None`.
///
/// # Errors
/// The vendor or Redis failed (retryable), or the floor would be passed and the account's
/// budget says to fail (permanent, saying why).
pub(crate) async fn traffic_floor(
    deps: &JobDeps,
    account: &str,
    expected: u64,
) -> Result<Option<StepOutcome>, JobError> {
    let budget = deps.config.costs.budget(account);
    let Some(floor) = budget.min_free_traffic_bytes else {
        return Ok(None);
    };
    let key = format!("traffic-package:{account}");
    let cached = deps
        .queue
        .get_shared(&key)
        .await
        .map_err(|e| JobError::retryable(format!("reading the package: {e}")))?
        .and_then(|t| serde_json::from_str::<AccountInfo>(&t).ok());
    let info = match cached {
        Some(info) => info,
        None => {
            let info = deps.vendors.baijiayun(account)?.account_info().await?;
            if let Ok(text) = serde_json::to_string(&info)
                && let Err(e) = deps
                    .queue
                    .set_shared(&key, &text, PACKAGE_READING_TTL)
                    .await
            {
                tracing::debug!(error = %e, "could not keep the package reading");
            }
            info
        }
    };
    let Some(free) = info.free_flow() else {
        return Ok(None);
    };
    let now = chrono::Utc::now();
    let calendar = deps.config.costs.calendar();
    let today = deps
        .queue
        .usage(account, &[calendar.day(now)])
        .await
        .map_err(|e| JobError::retryable(format!("reading today's usage: {e}")))?
        .pop()
        .map_or(0, |u| u.traffic_bytes);
    let left = free
        .saturating_sub(i64::try_from(today).unwrap_or(i64::MAX))
        .saturating_sub(i64::try_from(expected).unwrap_or(i64::MAX));
    if left >= i64::try_from(floor).unwrap_or(i64::MAX) {
        return Ok(None);
    }
    let why = format!(
        "traffic floor of the Baijiayun package: {free} bytes free by Baijiayun's last count, \
         {today} downloaded by creel today, this download {expected}; \
         min_free_traffic_bytes is {floor}"
    );
    // Baijiayun counts again the next day.
    refused(
        account,
        "min_free_traffic_bytes",
        &why,
        calendar.day_ends(now),
        budget.on_exceed,
    )
    .map(Some)
}

/// What `line` alone counts against `limit`, and in what: bytes for a traffic limit, the
/// amount in the line's currency otherwise.
fn alone<'a>(line: &'a CostLine, limit: &str) -> (f64, &'a str) {
    if limit.contains("traffic") {
        #[allow(clippy::cast_precision_loss)]
        let bytes = line.traffic_bytes() as f64;
        (bytes, "bytes")
    } else {
        (line.amount, line.currency.as_str())
    }
}

/// A step that would pass `limit` of `account`: it waits until `resets_at` (or the budget is
/// raised) or fails for good, by `on_exceed`, saying `why`.
fn refused(
    account: &str,
    limit: &str,
    why: &str,
    resets_at: chrono::DateTime<chrono::Utc>,
    on_exceed: OnExceed,
) -> Result<StepOutcome, JobError> {
    let reason = format!("account {account}: {why}");
    tracing::info!(name: "budget refused", %account, %limit, "a step waits for its budget or fails");
    match on_exceed {
        OnExceed::Fail => Err(JobError::permanent(reason)),
        OnExceed::Wait => {
            let after = (resets_at - chrono::Utc::now())
                .to_std()
                .unwrap_or(Duration::ZERO);
            Ok(StepOutcome::WaitForBudget { reason, after })
        }
    }
}

/// Gives back the hold for `what` (the billed work did not happen). A failure is logged: the
/// hold then counts until its period ends, which errs on the side of spending less.
pub(crate) async fn release(ctx: &JobContext, deps: &JobDeps, what: HoldFor, account: &str) {
    release_of(deps, &ctx.id, ctx.runs, what, account).await;
}

/// Whether this run of the job holds `what` already (an earlier attempt took it).
///
/// # Errors
/// Redis failed (retryable).
pub(crate) async fn holding(
    ctx: &JobContext,
    deps: &JobDeps,
    what: HoldFor,
    account: &str,
) -> Result<bool, JobError> {
    deps.queue
        .holds(account, &what.holder(ctx))
        .await
        .map_err(|e| JobError::retryable(format!("reading the budget hold: {e}")))
}

/// Gives back the hold for `what` of job `id` (run `runs`) outside a step (the job was
/// cancelled before its billed work began). Returns whether there was an unsettled one.
pub(crate) async fn release_of(
    deps: &JobDeps,
    id: &JobId,
    runs: u32,
    what: HoldFor,
    account: &str,
) -> bool {
    match deps
        .queue
        .release_hold(account, &what.holder_of(id, runs))
        .await
    {
        Ok(released) => released,
        Err(e) => {
            tracing::warn!(job = %id, error = %e, "could not give back a budget hold; it counts until its period ends");
            false
        }
    }
}

/// Replaces the hold for `what` with `actual` (what the work cost), and counts it in the
/// vendor cost metrics.
pub(crate) async fn settle(ctx: &JobContext, deps: &JobDeps, what: HoldFor, actual: &CostLine) {
    match deps
        .queue
        .settle(&actual.account, &what.holder(ctx), &charge_of(deps, actual))
        .await
    {
        Ok(_) => record_metrics(actual),
        Err(e) => {
            tracing::warn!(job = %ctx.id, error = %e, "could not settle a budget hold; its estimate counts");
        }
    }
}

/// Counts a cost line in `creel.vendor.cost` and `creel.vendor.traffic.bytes` (the metrics
/// layer reads this event).
pub(crate) fn record_metrics(line: &CostLine) {
    let traffic = line.traffic_bytes();
    tracing::info!(
        name: "vendor cost",
        basis = ?line.basis,
        creel.vendor = %line.vendor,
        creel.account = %line.account,
        creel.cost.unit = line.unit.as_str(),
        creel.cost.currency = %line.currency,
        creel.cost.amount = line.amount,
        creel.vendor.traffic_bytes = traffic,
        "vendor cost counted"
    );
}
