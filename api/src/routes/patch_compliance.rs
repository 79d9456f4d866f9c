//! `GET /api/v1/patch-compliance?tenant=`: each registered instance's patch
//! state from SSM (DescribeInstancePatchStates), read in the tenant's AWS
//! account through its assumed role.

use alertledger_domain::values::{InstanceId, TenantId};
use alertledger_ssm::{SsmError, TenantAccount};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::operate::store_failure;
use crate::auth::{Action, Caller};
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub struct PatchQuery {
    tenant: Option<String>,
}

/// One tenant's instances (every asset's `instance_ids`) with their patch state.
#[utoipa::path(
    get,
    path = "/api/v1/patch-compliance",
    tag = "remediation",
    security(("bearer_jwt" = [])),
    params(("tenant" = Option<Uuid>, Query, description = "The tenant (required unless the caller has exactly one)")),
    responses(
        (status = 200, description = "The tenant's instances with their patch state", body = crate::openapi::schemas::PatchCompliance),
        (status = 400, response = crate::openapi::responses::BadRequest),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 409, response = crate::openapi::responses::Conflict),
        (status = 422, response = crate::openapi::responses::Unprocessable),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn patch_compliance(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<PatchQuery>,
) -> Result<Json<Value>, ApiError> {
    let tenant_id = match caller.readable_tenants(query.tenant.as_deref())? {
        Some(tenants) if tenants.len() == 1 => TenantId::from_uuid(tenants[0]),
        _ => {
            return Err(ApiError::invalid_value(
                "tenant",
                "`tenant` is required: patch compliance is read per tenant",
            ))
        }
    };
    caller.authorize(Action::Read, &tenant_id)?;
    let Some(ssm) = state.remediation().ssm.clone() else {
        return Err(ApiError::unavailable(
            "this process has no AWS access configured",
        ));
    };
    let tenant = state
        .tenants()
        .load(&tenant_id.to_string())
        .await
        .map_err(|error| store_failure(error, "tenant"))?;
    let Some(role) = tenant.aws_role().cloned() else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "aws_not_configured",
            "the tenant has no AWS role (PUT /api/v1/tenants/{id}/aws)",
        ));
    };
    let mut instances: Vec<InstanceId> = tenant
        .assets()
        .flat_map(|(_, settings)| settings.instance_ids().iter().cloned())
        .collect();
    instances.sort();
    instances.dedup();
    if instances.is_empty() {
        return Ok(Json(json!({ "tenant_id": tenant_id, "instances": [] })));
    }
    let account = TenantAccount { tenant_id, role };
    let states = ssm
        .patch_states(&account, &instances)
        .await
        .map_err(aws_error)?;
    Ok(Json(json!({ "tenant_id": tenant_id, "instances": states })))
}

/// AWS refusing or failing is the upstream's problem: 502 with its code.
fn aws_error(error: SsmError) -> ApiError {
    let code = match &error {
        SsmError::Permanent { code, .. } | SsmError::Throttled { code } => Some(code.clone()),
        _ => None,
    };
    ApiError::new(StatusCode::BAD_GATEWAY, "aws_error", error.to_string())
        .with_details(json!({ "aws_error_code": code }))
}
