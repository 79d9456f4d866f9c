//! What every read-model list route reads from its query string the same way:
//! the page size, the cursor and the tenants to list.

use alertledger_domain::values::TenantId;
use alertledger_projections::read_models::page::{QueryError, DEFAULT_LIMIT, MAX_LIMIT};
use uuid::Uuid;

use crate::auth::{Caller, TenantScope};
use crate::error::ApiError;

/// `?limit=`: 1..=500, default 50.
pub(crate) fn limit(raw: Option<&str>) -> Result<usize, ApiError> {
    let Some(raw) = raw else {
        return Ok(DEFAULT_LIMIT);
    };
    match raw.trim().parse::<usize>() {
        Ok(limit) if (1..=MAX_LIMIT).contains(&limit) => Ok(limit),
        _ => Err(ApiError::invalid_value(
            "limit",
            format!("`limit` must be a whole number from 1 to {MAX_LIMIT}"),
        )),
    }
}

/// The tenants to list: `?tenant=` if the caller may read it (404 if not),
/// else every tenant the caller may read (`None`: all of them).
pub(crate) fn tenants(
    caller: &Caller,
    tenant: Option<&str>,
) -> Result<Option<Vec<Uuid>>, ApiError> {
    if let Some(raw) = tenant {
        let tenant = TenantId::parse(raw).map_err(|_| {
            ApiError::invalid_value("tenant", "`tenant` must be a tenant id (UUID)")
        })?;
        if !caller.may_read(&tenant) {
            return Err(ApiError::not_found("tenant_not_found", "no such tenant"));
        }
        return Ok(Some(vec![*tenant.as_uuid()]));
    }
    Ok(match &caller.scope {
        TenantScope::All => None,
        TenantScope::Only(tenants) => Some(tenants.iter().map(|t| *t.as_uuid()).collect()),
    })
}

/// A list query's failure: a cursor we did not issue is the client's mistake.
pub(crate) fn query_error(error: QueryError) -> ApiError {
    match error {
        QueryError::InvalidCursor => ApiError::bad_request(
            "invalid_cursor",
            "`cursor` is not a cursor this list returned; start again without it",
        )
        .with_details(serde_json::json!({ "field": "cursor" })),
        QueryError::Database(error) => ApiError::database(&error),
    }
}

/// A 422 naming `field` from a domain value parser's error.
pub(crate) fn invalid(field: &'static str, error: &alertledger_domain::ValueError) -> ApiError {
    ApiError::invalid_value(field, format!("invalid `{field}`: {}", error.problem()))
}
