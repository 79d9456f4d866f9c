//! `GET /api/v1/alerts` and `GET /api/v1/alerts/{id}`: the alerts read model,
//! scoped to the tenants the caller may read.

use alertledger_domain::values::{AlertStatus, AssetName, Severity};
use alertledger_projections::alerts::{self, AlertQuery, AlertRow};
use alertledger_projections::page::Page;
use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;
use uuid::Uuid;

use super::list_params;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::resource::WithId;
use crate::state::AppState;

/// Query string of `GET /api/v1/alerts` (all optional, parsed by hand so an
/// invalid value is a 422 naming its field).
#[derive(Debug, Deserialize)]
pub struct AlertsQuery {
    status: Option<String>,
    severity: Option<String>,
    asset: Option<String>,
    warnings: Option<String>,
    tenant: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

/// `GET /api/v1/alerts?status=&severity=&asset=&warnings=&tenant=&limit=&cursor=`:
/// newest received first; `warnings=true` keeps only alerts stored with
/// normalization warnings.
#[tracing::instrument(name = "list_alerts", skip_all, fields(user = %caller.user_id))]
#[utoipa::path(
    get,
    path = "/api/v1/alerts",
    tag = "alerts",
    security(("bearer_jwt" = [])),
    params(("status" = Option<String>, Query, description = "`firing`, `acknowledged` or `resolved`"), ("severity" = Option<String>, Query, description = "`critical`, `high`, `medium` or `low`"), ("asset" = Option<String>, Query, description = "An asset name"), ("warnings" = Option<bool>, Query, description = "`true`: only alerts stored with normalization warnings; `false` (default): every alert"), ("tenant" = Option<Uuid>, Query, description = "Only this tenant (default: every tenant the caller may read)"), ("limit" = Option<u32>, Query, minimum = 1, maximum = 500, description = "Page size (default 50)"), ("cursor" = Option<String>, Query, description = "The `next_cursor` of the previous page")),
    responses(
        (status = 200, description = "Alerts, newest received first (items have every field of the detail)", body = crate::openapi::schemas::Page<crate::openapi::schemas::Alert>),
        (status = 400, response = crate::openapi::responses::BadRequest),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 422, response = crate::openapi::responses::Unprocessable),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn list_alerts(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<AlertsQuery>,
) -> Result<Json<Page<WithId<AlertRow>>>, ApiError> {
    let query = AlertQuery {
        tenants: caller.readable_tenants(query.tenant.as_deref())?,
        status: query
            .status
            .as_deref()
            .map(AlertStatus::parse)
            .transpose()
            .map_err(|error| list_params::invalid("status", &error))?,
        severity: query
            .severity
            .as_deref()
            .map(Severity::parse)
            .transpose()
            .map_err(|error| list_params::invalid("severity", &error))?,
        asset: query
            .asset
            .as_deref()
            .map(AssetName::parse)
            .transpose()
            .map_err(|error| list_params::invalid("asset", &error))?
            .map(|asset| asset.as_str().to_owned()),
        with_warnings: match query.warnings.as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(_) => {
                return Err(ApiError::invalid_value(
                    "warnings",
                    "`warnings` must be `true` or `false`",
                ))
            }
        },
        limit: list_params::limit(query.limit.as_deref())?,
        cursor: query.cursor,
    };
    let page = alerts::list(state.pool(), &query)
        .await
        .map_err(list_params::query_error)?;
    Ok(Json(page.map(|row| WithId::new(row.alert_id, row))))
}

/// `GET /api/v1/alerts/{id}`: 404 for an unknown id and for another tenant's.
#[tracing::instrument(name = "show_alert", skip_all, fields(user = %caller.user_id, alert_id = %id))]
#[utoipa::path(
    get,
    path = "/api/v1/alerts/{id}",
    tag = "alerts",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The alert's id")),
    responses(
        (status = 200, description = "The alert", body = crate::openapi::schemas::Alert),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn show_alert(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<WithId<AlertRow>>, ApiError> {
    let not_found = || ApiError::not_found("alert_not_found", "no such alert");
    let alert_id = Uuid::try_parse(&id).map_err(|_| not_found())?;
    let alert = alerts::find(state.pool(), alert_id)
        .await?
        .filter(|alert| caller.may_read(&alert.tenant_id.into()))
        .ok_or_else(not_found)?;
    Ok(Json(WithId::new(alert.alert_id, alert)))
}
