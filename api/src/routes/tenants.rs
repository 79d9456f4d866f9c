//! Tenants and their configuration (API.md "Tenants and configuration"). Every
//! change is a command on the `Tenant` aggregate, so it is an event with its
//! actor, and so it appears in the audit log.
//!
//! The AWS external id is the service's to choose (AWS's guidance against
//! the confused deputy): generated when the tenant's role is first set,
//! recorded as `AwsExternalIdIssued`, never taken from a request (a body
//! naming `external_id` is 422), and shown only to tenant admins and up.

use std::collections::BTreeMap;

use alertledger_domain::tenant::{Tenant, TenantCommand, TenantError};
use alertledger_domain::values::AggregationKeyTemplate;
use alertledger_domain::values::{
    ApiKeyId, ApiKeyLabel, AssetName, AwsRoleConfig, CorrelationPolicy, FlappingPolicy, InstanceId,
    RateLimit, Role, TenantId, TenantName, TenantSlug, ValueError, WebhookSecretId,
};
use alertledger_eventstore::store::EventMetadata;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::{Action, Caller};
use crate::error::ApiError;
use crate::extract::{optional_json, ApiJson};
use crate::state::AppState;
use crate::tenant_admin::{self, tenant_error};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CreateTenant {
    name: String,
    slug: String,
}

/// `POST /api/v1/tenants` (msp_admin).
#[utoipa::path(
    post,
    path = "/api/v1/tenants",
    tag = "tenants",
    security(("bearer_jwt" = [])),
    request_body(content = CreateTenant),
    responses(
        (status = 201, description = "The new tenant", body = crate::openapi::schemas::Tenant),
        (status = 400, response = crate::openapi::responses::BadRequest),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 409, response = crate::openapi::responses::Conflict),
        (status = 413, response = crate::openapi::responses::PayloadTooLarge),
        (status = 415, response = crate::openapi::responses::UnsupportedMediaType),
        (status = 422, response = crate::openapi::responses::Unprocessable),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreateTenant>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.authorize_role(Action::CreateTenant)?;
    let name = TenantName::parse(&body.name).map_err(invalid)?;
    let slug = TenantSlug::parse(&body.slug).map_err(invalid)?;
    let metadata = metadata(&caller, &headers);
    let tenant_id = TenantId::new_v7();
    tenant_admin::create_tenant(
        state.pool(),
        state.tenants(),
        tenant_id,
        name,
        slug,
        metadata,
    )
    .await?;
    refresh(&state, tenant_id).await?;
    Ok((
        StatusCode::CREATED,
        Json(view(&state, &caller, tenant_id).await?),
    ))
}

/// `GET /api/v1/tenants`: the tenants the caller may read.
#[utoipa::path(
    get,
    path = "/api/v1/tenants",
    tag = "tenants",
    security(("bearer_jwt" = [])),
    responses(
        (status = 200, description = "The tenants the caller may read. Items have `id`, `name` and `slug` only; `GET /tenants/{id}` adds the configuration.", body = crate::openapi::schemas::Page<crate::openapi::schemas::TenantSummary>),
        (status = 401, response = crate::openapi::responses::Unauthorized)
    )
)]
pub async fn list(State(state): State<AppState>, caller: Caller) -> Json<Value> {
    let mut tenants: Vec<Value> = state
        .directory()
        .tenants()
        .into_iter()
        .filter(|(id, _)| caller.may_read(id))
        .map(|(id, profile)| json!({ "id": id, "name": profile.name, "slug": profile.slug }))
        .collect();
    tenants.sort_by(|a, b| a["slug"].as_str().cmp(&b["slug"].as_str()));
    Json(json!({ "items": tenants, "next_cursor": null }))
}

/// `GET /api/v1/tenants/{id}`.
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{id}",
    tag = "tenants",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The tenant's id")),
    responses(
        (status = 200, description = "The tenant with its configuration", body = crate::openapi::schemas::Tenant),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(tenant): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let tenant_id = tenant_id(&tenant)?;
    caller.authorize(Action::Read, &tenant_id)?;
    Ok(Json(view(&state, &caller, tenant_id).await?))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct IssueKey {
    label: Option<String>,
}

/// `POST /api/v1/tenants/{id}/api-keys`: the key is shown here, once.
#[utoipa::path(
    post,
    path = "/api/v1/tenants/{id}/api-keys",
    tag = "tenants",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The tenant's id")),
    request_body(content = Option<IssueKey>, description = "Optional: a label"),
    responses(
        (status = 201, description = "The key, shown only here", body = crate::openapi::schemas::ApiKeyIssued),
        (status = 400, response = crate::openapi::responses::BadRequest),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 409, response = crate::openapi::responses::Conflict),
        (status = 413, response = crate::openapi::responses::PayloadTooLarge),
        (status = 422, response = crate::openapi::responses::Unprocessable),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn issue_api_key(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let tenant_id = configurable(&caller, &tenant)?;
    let label = optional_json::<IssueKey>(&body)?
        .label
        .map(|label| ApiKeyLabel::parse(&label).map_err(invalid))
        .transpose()?;
    let (key_id, api_key) = tenant_admin::issue_api_key(
        state.tenants(),
        tenant_id,
        label.clone(),
        caller.actor()?,
        metadata(&caller, &headers),
    )
    .await?;
    refresh(&state, tenant_id).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "id": key_id, "key_id": key_id, "api_key": api_key, "label": label })),
    ))
}

/// `DELETE /api/v1/tenants/{id}/api-keys/{key_id}`.
#[utoipa::path(
    delete,
    path = "/api/v1/tenants/{id}/api-keys/{key_id}",
    tag = "tenants",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The tenant's id"), ("key_id" = Uuid, Path, description = "The key's id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 409, response = crate::openapi::responses::Conflict),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn revoke_api_key(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((tenant, key)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let tenant_id = configurable(&caller, &tenant)?;
    let key_id = ApiKeyId::parse(&key)
        .map_err(|_| ApiError::not_found("api_key_not_found", "no such API key"))?;
    let revoke = TenantCommand::RevokeApiKey {
        key_id,
        actor: caller.actor()?,
    };
    execute(&state, &caller, &headers, tenant_id, revoke).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/tenants/{id}/webhook-secrets`: the secret is shown here,
/// once; only its id is recorded in the log, the key itself is stored
/// encrypted. Two may be active at a time (rotation).
#[utoipa::path(
    post,
    path = "/api/v1/tenants/{id}/webhook-secrets",
    tag = "tenants",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The tenant's id")),
    responses(
        (status = 201, description = "The secret, shown only here", body = crate::openapi::schemas::WebhookSecretIssued),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 409, response = crate::openapi::responses::Conflict),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn add_webhook_secret(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(tenant): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let tenant_id = configurable(&caller, &tenant)?;
    let (secret_id, secret) = tenant_admin::add_webhook_secret(
        state.secrets().store(),
        state.tenants(),
        tenant_id,
        caller.actor()?,
        metadata(&caller, &headers),
    )
    .await?;
    refresh(&state, tenant_id).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "id": secret_id, "secret_id": secret_id, "secret": secret })),
    ))
}

/// `DELETE /api/v1/tenants/{id}/webhook-secrets/{secret_id}`.
#[utoipa::path(
    delete,
    path = "/api/v1/tenants/{id}/webhook-secrets/{secret_id}",
    tag = "tenants",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The tenant's id"), ("secret_id" = Uuid, Path, description = "The secret's id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 409, response = crate::openapi::responses::Conflict),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn revoke_webhook_secret(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((tenant, secret)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let tenant_id = configurable(&caller, &tenant)?;
    let secret_id = WebhookSecretId::parse(&secret)
        .map_err(|_| ApiError::not_found("webhook_secret_not_found", "no such webhook secret"))?;
    let revoke = TenantCommand::RevokeWebhookSecret {
        secret_id,
        actor: caller.actor()?,
    };
    execute(&state, &caller, &headers, tenant_id, revoke).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SigningRequirement {
    required: bool,
}

/// `PUT /api/v1/tenants/{id}/webhook-signing`.
#[utoipa::path(
    put,
    path = "/api/v1/tenants/{id}/webhook-signing",
    tag = "tenants",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The tenant's id")),
    request_body(content = SigningRequirement),
    responses(
        (status = 200, description = "Recorded", body = crate::openapi::schemas::SigningRequired),
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
pub async fn set_signing(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(tenant): Path<String>,
    ApiJson(body): ApiJson<SigningRequirement>,
) -> Result<Json<Value>, ApiError> {
    let tenant_id = configurable(&caller, &tenant)?;
    let command = TenantCommand::SetSigningRequired {
        required: body.required,
        actor: caller.actor()?,
    };
    execute(&state, &caller, &headers, tenant_id, command).await?;
    Ok(Json(json!({ "required": body.required })))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PolicyBody {
    time_window_minutes: u32,
    aggregation_key: String,
    auto_correlate: bool,
    min_alerts: u32,
    #[serde(default)]
    auto_resolve: bool,
}

/// `PUT /api/v1/tenants/{id}/correlation-policy`: applies to later alerts only.
#[utoipa::path(
    put,
    path = "/api/v1/tenants/{id}/correlation-policy",
    tag = "tenants",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The tenant's id")),
    request_body(content = PolicyBody),
    responses(
        (status = 200, description = "The policy now in force (for later alerts)", body = crate::openapi::schemas::CorrelationPolicy),
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
pub async fn set_correlation_policy(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(tenant): Path<String>,
    ApiJson(body): ApiJson<PolicyBody>,
) -> Result<Json<Value>, ApiError> {
    let tenant_id = configurable(&caller, &tenant)?;
    let key = AggregationKeyTemplate::parse(&body.aggregation_key).map_err(invalid)?;
    let policy = CorrelationPolicy::new(
        body.time_window_minutes,
        key,
        body.auto_correlate,
        body.min_alerts,
        body.auto_resolve,
    )
    .map_err(invalid)?;
    let command = TenantCommand::ChangeCorrelationPolicy {
        policy: policy.clone(),
        actor: caller.actor()?,
    };
    execute(&state, &caller, &headers, tenant_id, command).await?;
    Ok(Json(json!(policy)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct FlappingPolicyBody {
    /// More switches between firing and resolved than this within the
    /// window mark a key flapping (1..=1000, default 5).
    #[serde(default = "default_flapping_changes")]
    changes: u32,
    /// The window switches are counted in, and how long a key must stay
    /// stable for its flapping to end (1..=1440 minutes, default 15).
    #[serde(default = "default_flapping_window")]
    window_minutes: u32,
}

fn default_flapping_changes() -> u32 {
    FlappingPolicy::default().changes()
}

fn default_flapping_window() -> u32 {
    FlappingPolicy::default().window_minutes()
}

/// `PUT /api/v1/tenants/{id}/flapping-policy`: when an alert key counts as
/// flapping (issue 19); applies to later alerts only, recorded as
/// `FlappingPolicyChanged`.
#[utoipa::path(
    put,
    path = "/api/v1/tenants/{id}/flapping-policy",
    tag = "tenants",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The tenant's id")),
    request_body(content = FlappingPolicyBody),
    responses(
        (status = 200, description = "The policy now in force (for later alerts)", body = crate::openapi::schemas::FlappingPolicy),
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
pub async fn set_flapping_policy(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(tenant): Path<String>,
    ApiJson(body): ApiJson<FlappingPolicyBody>,
) -> Result<Json<Value>, ApiError> {
    let tenant_id = configurable(&caller, &tenant)?;
    let policy = FlappingPolicy::new(body.changes, body.window_minutes).map_err(invalid)?;
    let command = TenantCommand::ChangeFlappingPolicy {
        policy,
        actor: caller.actor()?,
    };
    execute(&state, &caller, &headers, tenant_id, command).await?;
    Ok(Json(json!(policy)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RateLimitBody {
    requests_per_minute: u32,
    burst: u32,
}

/// `PUT /api/v1/tenants/{id}/rate-limit`.
#[utoipa::path(
    put,
    path = "/api/v1/tenants/{id}/rate-limit",
    tag = "tenants",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The tenant's id")),
    request_body(content = RateLimitBody),
    responses(
        (status = 200, description = "The limit now in force", body = crate::openapi::schemas::RateLimit),
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
pub async fn set_rate_limit(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(tenant): Path<String>,
    ApiJson(body): ApiJson<RateLimitBody>,
) -> Result<Json<Value>, ApiError> {
    let tenant_id = configurable(&caller, &tenant)?;
    let limit = RateLimit::new(body.requests_per_minute, body.burst).map_err(invalid)?;
    let command = TenantCommand::ChangeRateLimit {
        limit,
        actor: caller.actor()?,
    };
    execute(&state, &caller, &headers, tenant_id, command).await?;
    Ok(Json(json!(limit)))
}

/// `PUT /api/v1/tenants/{id}/rate-limit-ceiling`: the highest rate limit
/// the tenant's own admins may set (`msp_admin` only; an `msp_admin` itself
/// is not bound by it). Until one is set, the default limit is the ceiling.
#[utoipa::path(
    put,
    path = "/api/v1/tenants/{id}/rate-limit-ceiling",
    tag = "tenants",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The tenant's id")),
    request_body(content = RateLimitBody),
    responses(
        (status = 200, description = "The ceiling now in force", body = crate::openapi::schemas::RateLimit),
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
pub async fn set_rate_limit_ceiling(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(tenant): Path<String>,
    ApiJson(body): ApiJson<RateLimitBody>,
) -> Result<Json<Value>, ApiError> {
    let tenant_id = configurable(&caller, &tenant)?;
    if caller.role != Role::MspAdmin {
        return Err(ApiError::forbidden(
            "only an msp_admin may set a tenant's rate-limit ceiling",
        ));
    }
    let ceiling = RateLimit::new(body.requests_per_minute, body.burst).map_err(invalid)?;
    let command = TenantCommand::SetRateLimitCeiling {
        ceiling,
        actor: caller.actor()?,
    };
    execute(&state, &caller, &headers, tenant_id, command).await?;
    Ok(Json(json!(ceiling)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct AssetBody {
    #[serde(default)]
    critical: bool,
    #[serde(default)]
    instance_ids: Vec<String>,
}

/// `PUT /api/v1/tenants/{id}/assets/{asset}`.
#[utoipa::path(
    put,
    path = "/api/v1/tenants/{id}/assets/{asset}",
    tag = "tenants",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The tenant's id"), ("asset" = String, Path, description = "The asset name")),
    request_body(content = AssetBody),
    responses(
        (status = 200, description = "The asset as stored", body = crate::openapi::schemas::Asset),
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
pub async fn upsert_asset(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((tenant, asset)): Path<(String, String)>,
    ApiJson(body): ApiJson<AssetBody>,
) -> Result<Json<Value>, ApiError> {
    let tenant_id = configurable(&caller, &tenant)?;
    let asset = AssetName::parse(&asset).map_err(invalid)?;
    let instance_ids = body
        .instance_ids
        .iter()
        .map(|id| InstanceId::parse(id))
        .collect::<Result<Vec<_>, _>>()
        .map_err(invalid)?;
    let command = TenantCommand::UpsertAsset {
        asset: asset.clone(),
        critical: body.critical,
        instance_ids: instance_ids.clone(),
        actor: caller.actor()?,
    };
    execute(&state, &caller, &headers, tenant_id, command).await?;
    Ok(Json(
        json!({ "asset": asset, "critical": body.critical, "instance_ids": instance_ids }),
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct AwsBody {
    role_arn: String,
    region: String,
    /// Refused when present: the service generates it.
    external_id: Option<Value>,
}

/// Random bytes of a generated external id (32 URL-safe base64 characters).
const EXTERNAL_ID_BYTES: usize = 24;

/// `PUT /api/v1/tenants/{id}/aws` `{"role_arn", "region"}`: a role to assume,
/// never static keys. The external id is generated on the first call and
/// kept after; the answer shows it, for the role's trust policy
/// (`sts:ExternalId`).
#[utoipa::path(
    put,
    path = "/api/v1/tenants/{id}/aws",
    tag = "tenants",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The tenant's id")),
    request_body(content = AwsBody),
    responses(
        (status = 200, description = "The role to assume", body = crate::openapi::schemas::AwsRole),
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
pub async fn configure_aws(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(tenant): Path<String>,
    ApiJson(body): ApiJson<AwsBody>,
) -> Result<Json<Value>, ApiError> {
    let tenant_id = configurable(&caller, &tenant)?;
    if body.external_id.is_some() {
        return Err(ApiError::invalid_value(
            "external_id",
            "`external_id` is generated by the service and cannot be chosen; leave it out \
             and put the one this answer shows in the role's trust policy",
        ));
    }
    // Checked before an external id is issued, so a bad request writes nothing.
    let probe =
        AwsRoleConfig::new(&body.role_arn, "checked-later", &body.region).map_err(invalid)?;
    let external_id = match current_external_id(&state, tenant_id).await? {
        Some(id) => id,
        None => issue_external_id(&state, &caller, &headers, tenant_id).await?,
    };
    let config =
        AwsRoleConfig::new(probe.role_arn(), &external_id, probe.region()).map_err(invalid)?;
    let command = TenantCommand::ConfigureAwsRole {
        config: config.clone(),
        actor: caller.actor()?,
    };
    execute(&state, &caller, &headers, tenant_id, command).await?;
    Ok(Json(json!(config)))
}

async fn current_external_id(
    state: &AppState,
    tenant_id: TenantId,
) -> Result<Option<String>, ApiError> {
    let tenant: Tenant = state
        .tenants()
        .load(&tenant_id.to_string())
        .await
        .map_err(tenant_error)?;
    if tenant.name().is_none() {
        return Err(ApiError::not_found("tenant_not_found", "no such tenant"));
    }
    Ok(tenant.aws_external_id().map(str::to_owned))
}

/// Generates and records the tenant's external id; the one recorded (a
/// concurrent request may have issued it first).
async fn issue_external_id(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    tenant_id: TenantId,
) -> Result<String, ApiError> {
    use base64::Engine as _;
    use rand::RngCore as _;
    let mut bytes = [0u8; EXTERNAL_ID_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let generated = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let command = TenantCommand::IssueAwsExternalId {
        external_id: generated.clone(),
        actor: caller.actor()?,
    };
    match state
        .tenants()
        .execute(&tenant_id.to_string(), command, metadata(caller, headers))
        .await
    {
        Ok(()) => Ok(generated),
        Err(cqrs_es::AggregateError::UserError(TenantError::AwsExternalIdAlreadyIssued)) => {
            current_external_id(state, tenant_id).await?.ok_or_else(|| {
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_error",
                    "the issued external id could not be read back",
                )
            })
        }
        Err(error) => Err(tenant_error(error)),
    }
}

/// The tenant id of a path, for a caller allowed to configure it.
fn configurable(caller: &Caller, raw: &str) -> Result<TenantId, ApiError> {
    let tenant_id = tenant_id(raw)?;
    caller.authorize(Action::Configure, &tenant_id)?;
    Ok(tenant_id)
}

/// A path's tenant id; a malformed one is simply not found.
pub fn tenant_id(raw: &str) -> Result<TenantId, ApiError> {
    TenantId::parse(raw).map_err(|_| ApiError::not_found("tenant_not_found", "no such tenant"))
}

/// Runs `command` on the tenant, recording who asked, then makes this process's
/// directory see the change.
pub(crate) async fn execute(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    tenant_id: TenantId,
    command: TenantCommand,
) -> Result<(), ApiError> {
    state
        .tenants()
        .execute(&tenant_id.to_string(), command, metadata(caller, headers))
        .await
        .map_err(tenant_error)?;
    refresh(state, tenant_id).await
}

/// Makes this process's directory reflect the tenant as just committed.
async fn refresh(state: &AppState, tenant_id: TenantId) -> Result<(), ApiError> {
    let (tenant, version) = state
        .tenants()
        .load_versioned(&tenant_id.to_string())
        .await
        .map_err(tenant_error)?;
    state.directory().refresh(tenant_id, &tenant, version);
    Ok(())
}

/// Who asked, for the events a request causes.
fn metadata(caller: &Caller, headers: &HeaderMap) -> EventMetadata {
    caller.event_metadata(headers)
}

/// The tenant as the API shows it (no key hashes, no secrets; the AWS
/// external id only to callers who may configure the tenant).
async fn view(state: &AppState, caller: &Caller, tenant_id: TenantId) -> Result<Value, ApiError> {
    let tenant: Tenant = state
        .tenants()
        .load(&tenant_id.to_string())
        .await
        .map_err(tenant_error)?;
    let (Some(name), Some(slug)) = (tenant.name(), tenant.slug()) else {
        return Err(ApiError::not_found("tenant_not_found", "no such tenant"));
    };
    let assets: BTreeMap<&str, Value> = tenant
        .assets()
        .map(|(name, settings)| {
            (
                name.as_str(),
                json!({ "critical": settings.critical(), "instance_ids": settings.instance_ids() }),
            )
        })
        .collect();
    Ok(json!({
        "id": tenant_id,
        "name": name,
        "slug": slug,
        "api_keys": tenant.active_api_keys().map(|(id, _)| id).collect::<Vec<_>>(),
        "webhook_secrets": tenant.active_webhook_secrets().collect::<Vec<_>>(),
        "signing_required": tenant.signing_required(),
        "rate_limit": tenant.rate_limit(),
        "rate_limit_ceiling": tenant.rate_limit_ceiling(),
        "correlation_policy": tenant.correlation_policy(),
        "flapping_policy": tenant.flapping_policy(),
        "assets": assets,
        "aws": aws_view(&tenant, caller.authorize(Action::Configure, &tenant_id).is_ok()),
    }))
}

/// The AWS role as `caller` may see it: the external id for admins only.
fn aws_view(tenant: &Tenant, admin: bool) -> Value {
    let Some(role) = tenant.aws_role() else {
        return Value::Null;
    };
    let mut shown = json!({ "role_arn": role.role_arn(), "region": role.region() });
    if admin {
        shown["external_id"] = json!(role.external_id());
    }
    shown
}

fn invalid(error: ValueError) -> ApiError {
    ApiError::invalid_value(error.field(), error.to_string())
}
