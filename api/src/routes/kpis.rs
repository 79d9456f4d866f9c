//! `GET /api/v1/kpis`: noise reduction, MTTA, MTTR, self-healed and more over
//! a range of days, from the `kpi_daily` read model, or as history stood at
//! `as_of` (from `kpi_history`).

use alertledger_projections::kpis::{self, KpiSummary};
use axum::extract::State;
use axum::Json;
use chrono::{Duration, Utc};
use serde::Deserialize;

use super::analyst_query::optional;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::state::AppState;

/// Days covered when the caller gives no range (today included).
const DEFAULT_DAYS: i64 = 30;

/// Query string of `GET /api/v1/kpis` (all optional, parsed by hand for
/// precise errors).
#[derive(Debug, Deserialize)]
pub struct KpiParams {
    tenant: Option<String>,
    from: Option<String>,
    to: Option<String>,
    as_of: Option<String>,
}

/// The KPI summary: `from` and `to` are dates or times (the days they fall
/// on, both included; by default the last 30 days); `as_of` (a time, or a
/// date meaning its end) answers from history as it stood then.
#[tracing::instrument(skip_all, fields(tenant = ?params.tenant))]
#[utoipa::path(
    get,
    path = "/api/v1/kpis",
    tag = "analysts",
    security(("bearer_jwt" = [])),
    params(("tenant" = Option<Uuid>, Query, description = "Only this tenant (default: every tenant the caller may read)"), ("from" = Option<String>, Query, description = "A date or time (default: 30 days before `to`)"), ("to" = Option<String>, Query, description = "A date or time (default: today)"), ("as_of" = Option<String>, Query, description = "Answer from history as it stood then")),
    responses(
        (status = 200, description = "The KPIs", body = crate::openapi::schemas::Kpis),
        (status = 400, response = crate::openapi::responses::BadRequest),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 422, response = crate::openapi::responses::Unprocessable),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn summary(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<KpiParams>,
) -> Result<Json<KpiSummary>, ApiError> {
    let tenants = caller.readable_tenants(params.tenant.as_deref())?;
    let now = Utc::now();
    let from = optional("from", params.from.as_deref())?.map(|from| from.day());
    let to = optional("to", params.to.as_deref())?.map(|to| to.day());
    let as_of = optional("as_of", params.as_of.as_deref())?
        // A moment still to come is answered as of now.
        .map(|as_of| as_of.end().min(now));
    let last_days = |to| to - Duration::days(DEFAULT_DAYS - 1);
    let (from, to) = match (from, to) {
        (Some(from), Some(to)) => (from, to),
        (Some(from), None) => (from, now.date_naive()),
        (None, Some(to)) => (last_days(to), to),
        (None, None) => (last_days(now.date_naive()), now.date_naive()),
    };
    if from > to {
        return Err(ApiError::invalid_value(
            "to",
            "`to` must not be before `from`",
        ));
    }

    let summary = match as_of {
        None => kpis::summary(state.pool(), tenants.as_deref(), from, to).await?,
        // Summed from the KPI history with plain SELECTs: no build, no DDL.
        Some(as_of) => {
            kpis::summary_as_of(state.pool(), tenants.as_deref(), from, to, as_of).await?
        }
    };
    Ok(Json(summary))
}
