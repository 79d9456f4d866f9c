//! Executions (API.md): list and show, from the `executions` read model
//! (status per instance, output excerpts, the SSM command id).

use alertledger_projections::page::Page;
use alertledger_projections::remediation::{self, ExecutionRow};
use axum::extract::{Path, State};
use axum::Json;
use uuid::Uuid;

use super::list_params::{self, RemediationListQuery};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::resource::WithId;
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
#[utoipa::path(
    get,
    path = "/api/v1/executions",
    tag = "remediation",
    security(("bearer_jwt" = [])),
    params(("status" = Option<String>, Query, description = "Filter by status"), ("tenant" = Option<Uuid>, Query, description = "Only this tenant (default: every tenant the caller may read)"), ("limit" = Option<u32>, Query, minimum = 1, maximum = 500, description = "Page size (default 50)"), ("cursor" = Option<String>, Query, description = "The `next_cursor` of the previous page")),
    responses(
        (status = 200, description = "Executions, newest first (items have every field of the detail)", body = crate::openapi::schemas::Page<crate::openapi::schemas::Execution>),
        (status = 400, response = crate::openapi::responses::BadRequest),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 422, response = crate::openapi::responses::Unprocessable),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn list_executions(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<RemediationListQuery>,
) -> Result<Json<Page<WithId<ExecutionRow>>>, ApiError> {
    let query = query.parse(&caller, STATUSES)?;
    let page = remediation::list_executions(state.pool(), &query)
        .await
        .map_err(list_params::query_error)?;
    Ok(Json(page.map(|row| WithId::new(row.execution_id, row))))
}

/// `GET /api/v1/executions/{id}`.
#[utoipa::path(
    get,
    path = "/api/v1/executions/{id}",
    tag = "remediation",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The execution's id")),
    responses(
        (status = 200, description = "The execution with its per-instance status", body = crate::openapi::schemas::Execution),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn show_execution(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<WithId<ExecutionRow>>, ApiError> {
    let not_found = || ApiError::not_found("execution_not_found", "no such execution");
    let id = Uuid::parse_str(&id).map_err(|_| not_found())?;
    let row = remediation::find_execution(state.pool(), id)
        .await
        .map_err(|error| ApiError::database(&error))?
        .filter(|row| caller.may_read(&row.tenant_id.into()))
        .ok_or_else(not_found)?;
    Ok(Json(WithId::new(row.execution_id, row)))
}
