//! `POST /api/v1/incidents/correlate?tenant=`: correlate a tenant's waiting
//! alerts now.
//!
//! The request is an event (`CorrelationRequested`, with its actor), so the
//! correlator acts on it in log order like on everything else, in whichever
//! process holds its lock. The route then waits briefly for the correlator to
//! pass the request, so a caller usually sees the incidents right away.

use std::time::Duration;

use alertledger_domain::tenant::{Tenant, TenantCommand};
use alertledger_eventstore::consumer::wait_until_applied;
use alertledger_eventstore::queries;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::tenants::{execute, tenant_id};
use crate::auth::policy::Action;
use crate::auth::{Caller, TenantScope};
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::state::AppState;

/// The correlator's checkpoint name (its projector name in `alertledger-workers`).
const CORRELATOR: &str = "correlator";

/// How long the request waits for the correlator before answering anyway.
const WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, Deserialize)]
pub struct CorrelateQuery {
    tenant: Option<String>,
}

/// Records the request, then answers `202` once the correlator has acted on it
/// (`"completed": true`) or after a short wait (`false`: it will, shortly).
#[utoipa::path(
    post,
    path = "/api/v1/incidents/correlate",
    tag = "incidents",
    security(("bearer_jwt" = [])),
    params(("tenant" = Option<Uuid>, Query, description = "The tenant (required unless the caller has exactly one)")),
    responses(
        (status = 202, description = "Requested (and usually already done: `completed`)", body = crate::openapi::schemas::CorrelationRequested),
        (status = 400, response = crate::openapi::responses::BadRequest),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 409, response = crate::openapi::responses::Conflict),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn correlate(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<CorrelateQuery>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let tenant = match (query.tenant.as_deref(), &caller.scope) {
        (Some(raw), _) => tenant_id(raw)?,
        (None, TenantScope::Only(tenants)) if tenants.len() == 1 => tenants[0],
        (None, _) => {
            return Err(ApiError::bad_request(
                "missing_field",
                "`tenant` is required: name the tenant whose alerts to correlate",
            ))
        }
    };
    caller.authorize(Action::Operate, &tenant)?;
    let command = TenantCommand::RequestCorrelation {
        actor: caller.actor()?,
    };
    execute(&state, &caller, &headers, tenant, command).await?;
    let position = queries::last_position::<Tenant>(state.pool(), &tenant.to_string())
        .await
        .and_then(|found| found.ok_or(sqlx::Error::RowNotFound))
        .map_err(|error| ApiError::database(&error))?;
    let completed = wait_until_applied(state.pool(), CORRELATOR, position, WAIT)
        .await
        .map_err(|error| ApiError::database(&error))?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "tenant_id": tenant,
            "request_position": position,
            "completed": completed,
        })),
    ))
}
