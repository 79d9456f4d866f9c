//! Executions (API.md): list and show, from the `executions` read model
//! (status per instance, output excerpts, the SSM command id).

use alertledger_projections::page::Page;
use alertledger_projections::remediation::{self, ExecutionRow};
use axum::extract::{Path, Query, State};
use axum::Json;
use uuid::Uuid;

use super::list_params::{self, RemediationListQuery};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

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
    Query(query): Query<RemediationListQuery>,
) -> Result<Json<Page<ExecutionRow>>, ApiError> {
    let query = query.parse(&caller, STATUSES)?;
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
