//! What vendor accounts spent: `GET /v1/accounts/{account}/usage` answers per day the amount,
//! the vendor traffic and the billed quantities from the usage ledger, with the account's
//! budget as the ledger checks it (configured limits with the ones set at run time) and what
//! today and this month have used of it.

use axum::Json;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use creel_core::config::Scope;
use creel_queue::{AccountUsage, MAX_USAGE_DAYS};
use serde::Deserialize;

use crate::{ApiState, Caller, Problem};

/// The days a usage request covers.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct UsageQuery {
    /// The first day, `YYYY-MM-DD` in the usage calendar (`costs.utc_offset_minutes`);
    /// default 29 days before `to`.
    from: Option<String>,
    /// The last day; default today. At most 400 days from `from`.
    to: Option<String>,
}

/// Cost, vendor traffic and budget of one vendor account, per day.
#[utoipa::path(
    get, path = "/v1/accounts/{account}/usage", tag = "accounts",
    params(("account" = String, Path, description = "the vendor account's name in config"), UsageQuery),
    responses((status = 200, body = AccountUsage),
              (status = 401, description = "no valid bearer token", body = Problem, content_type = "application/problem+json"), (status = 403, description = "the token lacks the scope", body = Problem, content_type = "application/problem+json"), (status = 404, description = "no such account", body = Problem, content_type = "application/problem+json"), (status = 422, description = "a field is invalid (named in `field`)", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub(crate) async fn usage(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(account): Path<String>,
    Query(range): Query<UsageQuery>,
) -> Result<Json<AccountUsage>, Problem> {
    caller.require(Scope::UsageRead)?;
    if !state.accounts.contains(&account) {
        return Err(Problem::new(
            StatusCode::NOT_FOUND,
            format!("no vendor account named {account:?} is configured"),
        ));
    }
    let days = state
        .costs
        .calendar()
        .range(
            range.from.as_deref(),
            range.to.as_deref(),
            MAX_USAGE_DAYS,
            chrono::Utc::now(),
        )
        .map_err(|(field, reason)| Problem::invalid(field, reason))?;
    Ok(Json(
        state
            .queue
            .account_usage(&account, &state.costs, days)
            .await?,
    ))
}
