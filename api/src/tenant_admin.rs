//! Tenant operations shared by the HTTP API and the command line: creating a
//! tenant (claiming its unique slug), issuing API keys and webhook secrets.

use alertledger_domain::tenant::{Tenant, TenantCommand, TenantError};
use alertledger_domain::values::{
    Actor, ApiKeyId, ApiKeyLabel, TenantId, TenantName, TenantSlug, WebhookSecretId,
};
use alertledger_eventstore::store::{AggregateStore, EventMetadata};
use axum::http::StatusCode;
use cqrs_es::AggregateError;
use serde_json::json;
use sqlx::PgPool;

use crate::auth::api_key::{generate_api_key, hash_api_key};
use crate::auth::signing::{generate_webhook_secret, WebhookSecretStore};
use crate::error::ApiError;

/// Registers tenant `tenant_id` under a slug no other tenant has.
pub async fn create_tenant(
    pool: &PgPool,
    tenants: &AggregateStore<Tenant>,
    tenant_id: TenantId,
    name: TenantName,
    slug: TenantSlug,
    metadata: EventMetadata,
) -> Result<(), ApiError> {
    let claimed = sqlx::query(
        "INSERT INTO tenant_slugs (slug, tenant_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(slug.as_str())
    .bind(tenant_id.as_uuid())
    .execute(pool)
    .await?;
    if claimed.rows_affected() == 0 {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "slug_taken",
            format!("a tenant with slug {slug} exists"),
        )
        .with_details(json!({ "field": "slug" })));
    }
    let register = TenantCommand::RegisterTenant {
        tenant_id,
        name,
        slug: slug.clone(),
    };
    if let Err(error) = tenants
        .execute(&tenant_id.to_string(), register, metadata)
        .await
    {
        // Give the slug back: no tenant holds it.
        sqlx::query("DELETE FROM tenant_slugs WHERE slug = $1")
            .bind(slug.as_str())
            .execute(pool)
            .await?;
        return Err(tenant_error(error));
    }
    Ok(())
}

/// Issues a new API key to `tenant_id`; the plaintext is returned once and
/// only its hash is recorded.
pub async fn issue_api_key(
    tenants: &AggregateStore<Tenant>,
    tenant_id: TenantId,
    label: Option<ApiKeyLabel>,
    actor: Actor,
    metadata: EventMetadata,
) -> Result<(ApiKeyId, String), ApiError> {
    let api_key = generate_api_key();
    let key_id = ApiKeyId::new_v7();
    let issue = TenantCommand::IssueApiKey {
        key_id,
        hash: hash_api_key(&api_key),
        label,
        actor,
    };
    tenants
        .execute(&tenant_id.to_string(), issue, metadata)
        .await
        .map_err(tenant_error)?;
    Ok((key_id, api_key))
}

/// Adds a webhook signing secret to `tenant_id`. The key material is stored
/// encrypted before the event records the secret's id (a stored key without
/// its event is harmless; an event without its key would be an unusable active
/// secret). Returns the id and the secret, shown once.
pub async fn add_webhook_secret(
    store: &WebhookSecretStore,
    tenants: &AggregateStore<Tenant>,
    tenant_id: TenantId,
    actor: Actor,
    metadata: EventMetadata,
) -> Result<(WebhookSecretId, String), ApiError> {
    let (secret, key) = generate_webhook_secret();
    let secret_id = WebhookSecretId::new_v7();
    store.store(tenant_id, secret_id, &key).await?;
    let add = TenantCommand::AddWebhookSecret { secret_id, actor };
    tenants
        .execute(&tenant_id.to_string(), add, metadata)
        .await
        .map_err(tenant_error)?;
    Ok((secret_id, secret))
}

/// A tenant command's failure as an API error.
pub fn tenant_error(error: AggregateError<TenantError>) -> ApiError {
    match error {
        AggregateError::UserError(rule) => {
            let message = rule.to_string();
            match rule {
                TenantError::NotRegistered => {
                    ApiError::not_found("tenant_not_found", "no such tenant")
                }
                TenantError::UnknownApiKey { .. } => {
                    ApiError::not_found("api_key_not_found", message)
                }
                TenantError::UnknownWebhookSecret { .. } => {
                    ApiError::not_found("webhook_secret_not_found", message)
                }
                TenantError::TooManyInstances { .. } => {
                    ApiError::invalid_value("instance_ids", message)
                }
                TenantError::TooManySnsTopics { .. } => {
                    ApiError::invalid_value("topic_arns", message)
                }
                TenantError::AboveRateLimitCeiling { field, max } => {
                    ApiError::new(StatusCode::FORBIDDEN, "above_rate_limit_ceiling", message)
                        .with_details(serde_json::json!({ "field": field, "max": max }))
                }
                TenantError::RateLimitCeilingNeedsMspAdmin => ApiError::forbidden(message),
                _ => ApiError::new(StatusCode::CONFLICT, "conflict", message),
            }
        }
        AggregateError::AggregateConflict => ApiError::new(
            StatusCode::CONFLICT,
            "concurrent_change",
            "the tenant was changed at the same moment; retry",
        ),
        other => ApiError::internal(&other),
    }
}
