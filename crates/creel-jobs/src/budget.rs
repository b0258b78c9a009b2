//! Costs and budgets of job steps: the hold a billed vendor submission takes before it acts,
//! the hold a vendor download takes for its traffic (settled with the bytes that came), both
//! checked against the account's budgets in one atomic step shared by the fleet, and the cost
//! lines a job's result carries.

use std::time::Duration;

use creel_core::config::{CostUnit, CostsConfig, OnExceed, Vendor};
use creel_core::{CostBasis, CostLine, JobError};
use creel_queue::{BudgetRefusal, Charge, Counts, JobContext, Reservation, StepOutcome};

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
    /// A vendor submission billed per transcoded hour (Plaso's export).
    Submission,
    /// Traffic of a download: one hold per run of the job (a requeued job moves its bytes
    /// again), taken by its first attempt and found by the attempts after it, settled with the
    /// bytes of the attempt that stored the object.
    Traffic,
}

impl HoldFor {
    fn holder(self, ctx: &JobContext) -> String {
        match self {
            Self::Submission => format!("{}:submit", ctx.id),
            Self::Traffic => format!("{}:traffic:{}", ctx.id, ctx.runs),
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
        traffic_bytes: if traffic {
            // Quantities of traffic are whole bytes.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let bytes = line.quantity.max(0.0) as u64;
            bytes
        } else {
            0
        },
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
        Reservation::Refused(refusal) => refused(&line.account, &refusal, budget.on_exceed),
    }
}

fn refused(account: &str, refusal: &BudgetRefusal, on_exceed: OnExceed) -> Result<Hold, JobError> {
    let reason = format!("account {account}: {refusal}");
    tracing::info!(name: "budget refused", %account, limit = %refusal.limit, "a step waits for its budget or fails");
    match on_exceed {
        OnExceed::Fail => Err(JobError::permanent(reason)),
        OnExceed::Wait => {
            let after = (refusal.resets_at - chrono::Utc::now())
                .to_std()
                .unwrap_or(Duration::ZERO);
            Ok(Hold::Wait(StepOutcome::WaitForBudget { reason, after }))
        }
    }
}

/// Gives back the hold for `what` (the billed work did not happen). A failure is logged: the
/// hold then counts until its period ends, which errs on the side of spending less.
pub(crate) async fn release(ctx: &JobContext, deps: &JobDeps, what: HoldFor, account: &str) {
    if let Err(e) = deps.queue.release_hold(account, &what.holder(ctx)).await {
        tracing::warn!(job = %ctx.id, error = %e, "could not give back a budget hold; it counts until its period ends");
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
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let traffic = if line.unit == CostUnit::TrafficBytes {
        line.quantity.max(0.0) as u64
    } else {
        0
    };
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
