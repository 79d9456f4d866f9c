//! `PUT` and `GET /api/v1/tenants/{id}/severity-map`: the tenant's own
//! severity words (`{"P1": "critical", "none": "low"}`), applied to every
//! source before the built-in words (see `ingest::sources::lenient` and
//! docs/ingestion.md). Changing it is a `SeverityMapChanged` tenant event
//! with its actor, like all tenant configuration.

use std::collections::BTreeMap;

use alertledger_domain::tenant::TenantCommand;
use alertledger_domain::values::{Severity, SeverityMap, MAX_SEVERITY_MAP_ENTRIES};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use serde_json::{json, Value};

use super::tenants::{execute, tenant_id};
use crate::auth::{Action, Caller};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;

/// `PUT`: replaces the map (an empty object: built-in words only). Tenant
/// admin and up. Every value must be one of our severities (422 naming the key).
#[utoipa::path(
    put,
    path = "/api/v1/tenants/{id}/severity-map",
    tag = "tenants",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The tenant's id")),
    request_body(content = Object, description = "Words (any case) to `critical`, `high`, `medium` or `low`", example = json!({"P1": "critical", "warning": "medium", "none": "low"})),
    responses(
        (status = 200, description = "The tenant's severity map", body = crate::openapi::schemas::SeverityMap),
        (status = 400, response = crate::openapi::responses::BadRequest),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 409, response = crate::openapi::responses::Conflict),
        (status = 413, response = crate::openapi::responses::PayloadTooLarge),
        (status = 415, response = crate::openapi::responses::UnsupportedMediaType),
        (status = 422, response = crate::openapi::responses::Unprocessable),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn put_severity_map(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(tenant): Path<String>,
    ApiJson(body): ApiJson<BTreeMap<String, Value>>,
) -> Result<Json<Value>, ApiError> {
    let tenant_id = tenant_id(&tenant)?;
    caller.authorize(Action::Configure, &tenant_id)?;
    if body.len() > MAX_SEVERITY_MAP_ENTRIES {
        return Err(ApiError::invalid_value(
            "severity_map",
            format!("at most {MAX_SEVERITY_MAP_ENTRIES} entries"),
        ));
    }
    let mut entries = BTreeMap::new();
    for (key, value) in body {
        let severity = value
            .as_str()
            .and_then(|raw| Severity::parse(raw).ok())
            .ok_or_else(|| {
                ApiError::invalid_value(
                    key.clone(),
                    format!(
                        "invalid severity for {key:?}: {value}; expected critical, high, medium or low"
                    ),
                )
            })?;
        entries.insert(key, severity);
    }
    let map = SeverityMap::new(entries).map_err(|error| {
        ApiError::invalid_value(
            "severity_map",
            format!("invalid severity map: {}", error.problem()),
        )
    })?;
    let command = TenantCommand::ChangeSeverityMap {
        map: map.clone(),
        actor: caller.actor()?,
    };
    execute(&state, &caller, &headers, tenant_id, command).await?;
    Ok(Json(json!({ "severity_map": map })))
}

/// `GET`: the tenant's map as stored (keys lower-cased); anyone who may read
/// the tenant.
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{id}/severity-map",
    tag = "tenants",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The tenant's id")),
    responses(
        (status = 200, description = "The tenant's severity map", body = crate::openapi::schemas::SeverityMap),
        (status = 400, response = crate::openapi::responses::BadRequest),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn get_severity_map(
    State(state): State<AppState>,
    caller: Caller,
    Path(tenant): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let tenant_id = tenant_id(&tenant)?;
    caller.authorize(Action::Read, &tenant_id)?;
    let tenant = state
        .tenants()
        .load(&tenant_id.to_string())
        .await
        .map_err(|error| ApiError::internal(&error))?;
    if tenant.name().is_none() {
        return Err(ApiError::not_found("tenant_not_found", "no such tenant"));
    }
    Ok(Json(json!({ "severity_map": tenant.severity_map() })))
}
