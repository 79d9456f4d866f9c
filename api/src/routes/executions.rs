//! Executions (API.md): list and show, from the `executions` read model
//! (status per instance, output excerpts, the SSM command id).

use alertledger_projections::read_models::page::Page;
use alertledger_projections::read_models::remediation::{self, ExecutionRow, RemediationQuery};
use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;
use uuid::Uuid;

use super::list_params;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

/// Query string of `GET /api/v1/executions`.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    status: Option<String>,
    tenant: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

const STATUSES: &[&str] = &[
    "requested",
    "dispatching",
    "dispatched",
    "succeeded",
    "failed",
    "timed_out",
];

/// `GET /api/v1/executions?status=&tenant=&limit=&cursor=`: newest first.
pub async fn list_executions(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<ListQuery>,
) -> Result<Json<Page<ExecutionRow>>, ApiError> {
    let query = RemediationQuery {
        tenants: caller.readable_tenants(query.tenant.as_deref())?,
        status: list_params::status(query.status, STATUSES)?,
        limit: list_params::limit(query.limit.as_deref())?,
        cursor: query.cursor,
    };
    let page = remediation::list_executions(state.pool(), &query)
        .await
        .map_err(list_params::query_error)?;
    Ok(Json(page))
}

/// `GET /api/v1/executions/{id}`.
pub async fn show_execution(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ExecutionRow>, ApiError> {
    let not_found = || ApiError::not_found("execution_not_found", "no such execution");
    let id = Uuid::parse_str(&id).map_err(|_| not_found())?;
    let row = remediation::find_execution(state.pool(), id)
        .await
        .map_err(|error| ApiError::database(&error))?
        .filter(|row| caller.may_read(&row.tenant_id.into()))
        .ok_or_else(not_found)?;
    Ok(Json(row))
}
