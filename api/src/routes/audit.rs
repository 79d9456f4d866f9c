//! `GET /api/v1/audit`: who did what, newest first, from the `audit_entries`
//! read model, scoped to the tenants the caller may read.

use alertledger_projections::audit::{self, AuditError, AuditPage, AuditQuery};
use axum::extract::State;
use axum::Json;
use serde::Deserialize;

use super::analyst_query::optional;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::state::AppState;

/// Query string of `GET /api/v1/audit` (all optional, parsed by hand for
/// precise errors).
#[derive(Debug, Deserialize)]
pub struct AuditParams {
    tenant: Option<String>,
    actor: Option<String>,
    action: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

/// `{"items": [{position, at, tenant_id, actor, action, target, details, ...}],
/// "next_cursor"}`.
#[tracing::instrument(skip_all, fields(tenant = ?params.tenant))]
#[utoipa::path(
    get,
    path = "/api/v1/audit",
    tag = "analysts",
    security(("bearer_jwt" = [])),
    params(("tenant" = Option<Uuid>, Query, description = "Only this tenant (default: every tenant the caller may read)"), ("actor" = Option<String>, Query, description = "e.g. `user:alice`"), ("action" = Option<String>, Query, description = "e.g. `incident_acknowledged`"), ("from" = Option<String>, Query, description = "A date or RFC 3339 time"), ("to" = Option<String>, Query, description = "A date or RFC 3339 time"), ("limit" = Option<u32>, Query, minimum = 1, maximum = 500, description = "Page size (default 50)"), ("cursor" = Option<String>, Query, description = "The `next_cursor` of the previous page")),
    responses(
        (status = 200, description = "Audit entries, newest first", body = crate::openapi::schemas::Page<crate::openapi::schemas::AuditEntry>),
        (status = 400, response = crate::openapi::responses::BadRequest),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 422, response = crate::openapi::responses::Unprocessable),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn list_audit(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<AuditParams>,
) -> Result<Json<AuditPage>, ApiError> {
    let tenants = caller.readable_tenants(params.tenant.as_deref())?;
    let from = optional("from", params.from.as_deref())?.map(|from| from.start());
    let to = optional("to", params.to.as_deref())?.map(|to| to.end());
    if let (Some(from), Some(to)) = (from, to) {
        if from > to {
            return Err(ApiError::invalid_value(
                "to",
                "`to` must not be before `from`",
            ));
        }
    }
    let query = AuditQuery {
        tenants,
        actor: non_empty(params.actor),
        action: non_empty(params.action),
        from,
        to,
        limit: Some(parse_limit(params.limit.as_deref())?),
        cursor: params.cursor,
    };
    match audit::list(state.pool(), &query).await {
        Ok(page) => Ok(Json(page)),
        Err(AuditError::InvalidCursor) => Err(ApiError::bad_request(
            "invalid_cursor",
            "`cursor` is not a cursor this service handed out",
        )
        .with_details(serde_json::json!({ "field": "cursor" }))),
        Err(AuditError::Database(error)) => Err(ApiError::database(&error)),
    }
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

fn parse_limit(raw: Option<&str>) -> Result<usize, ApiError> {
    let Some(raw) = raw else {
        return Ok(audit::DEFAULT_LIMIT);
    };
    match raw.trim().parse::<usize>() {
        Ok(limit) if (1..=audit::MAX_LIMIT).contains(&limit) => Ok(limit),
        _ => Err(ApiError::invalid_value(
            "limit",
            format!(
                "`limit` must be a whole number from 1 to {}",
                audit::MAX_LIMIT
            ),
        )),
    }
}
