//! What every read-model list route reads from its query string the same way:
//! the page size, the cursor and the tenants to list.

use alertledger_projections::page::{QueryError, DEFAULT_LIMIT, MAX_LIMIT};
use alertledger_projections::remediation::RemediationQuery;

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

/// `?status=`, one of `allowed` (the list's statuses as the API spells them;
/// none: the list has no status filter).
fn status(raw: Option<String>, allowed: &[&str]) -> Result<Option<String>, ApiError> {
    match raw {
        Some(_) if allowed.is_empty() => Err(ApiError::invalid_value(
            "status",
            "this list has no `status` filter",
        )),
        Some(status) if !allowed.contains(&status.as_str()) => Err(ApiError::invalid_value(
            "status",
            format!("`status` must be one of {}", allowed.join(", ")),
        )),
        other => Ok(other),
    }
}

/// The query string of the runbook, approval and execution lists.
#[derive(Debug, serde::Deserialize)]
pub struct RemediationListQuery {
    status: Option<String>,
    tenant: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

impl RemediationListQuery {
    /// The read-model query for `caller`, with `?status=` one of `statuses`.
    pub(crate) fn parse(
        self,
        caller: &crate::auth::Caller,
        statuses: &[&str],
    ) -> Result<RemediationQuery, ApiError> {
        Ok(RemediationQuery {
            tenants: caller.readable_tenants(self.tenant.as_deref())?,
            status: status(self.status, statuses)?,
            limit: limit(self.limit.as_deref())?,
            cursor: self.cursor,
        })
    }
}
