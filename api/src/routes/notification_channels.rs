//! `/api/v1/tenants/{id}/notification-channels` (API.md "Notifications"):
//! a tenant's Slack, Teams, email, webhook and PagerDuty channels. Tenant
//! admin and up configure them; anyone who may read the tenant lists them.
//!
//! A channel's secrets (webhook URLs, SMTP password, routing key, the
//! webhook signing key) are checked, sealed into
//! `notification_channel_secrets` and never shown again: responses, events
//! and logs carry the channel's id, type, name and non-secret settings (a
//! URL as its host). The webhook type's signing secret is shown once, in the
//! creation response. Every change is a `NotificationSetup` event with its
//! actor. `POST .../{channel_id}/test` sends a test message now.

use alertledger_domain::notification::{
    ChannelRecord, NotificationSetupCommand, NotificationSetupError,
};
use alertledger_domain::values::{NotificationChannelId, TenantId};
use alertledger_notify::config::{parse_channel, with_kept_secrets};
use alertledger_notify::Notification;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use cqrs_es::AggregateError;
use serde::Deserialize;
use serde_json::{json, Value};

use super::tenants::tenant_id;
use crate::auth::{Action, Caller};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;

/// `{"type", "name", "config"}`; `config` per type (API.md).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CreateChannel {
    /// `slack`, `teams`, `email`, `webhook` or `pagerduty`.
    #[serde(rename = "type")]
    channel_type: String,
    name: String,
    /// `slack`/`teams`/`webhook`: `{"url"}`; `email`: `{"smtp_host", "smtp_port",
    /// "tls": "none"|"starttls"|"implicit", "username"?, "password"?, "from", "to": [..]}`;
    /// `pagerduty`: `{"routing_key", "url"?}`.
    #[schema(value_type = Object)]
    config: Value,
}

/// `POST`: adds a channel; 201 with the channel without its secrets (a
/// webhook channel's `signing_secret` is shown here, once).
#[utoipa::path(
    post,
    path = "/api/v1/tenants/{id}/notification-channels",
    tag = "notifications",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The tenant's id")),
    request_body(content = CreateChannel, example = json!({"type": "slack", "name": "Ops room", "config": {"url": "https://hooks.slack.com/services/T000/B000/XXXX"}})),
    responses(
        (status = 201, description = "The channel, without its secrets", body = crate::openapi::schemas::NotificationChannel),
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
pub async fn create_channel(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(tenant): Path<String>,
    ApiJson(body): ApiJson<CreateChannel>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let tenant_id = configurable(&state, &caller, &tenant)?;
    let parts = state.notifications();
    let parsed = parse_channel(&body.channel_type, &body.name, &body.config, parts.policy)
        .map_err(|error| ApiError::invalid_value(error.field.clone(), error.to_string()))?;
    let channel_id = NotificationChannelId::new_v7();
    // Sealed first: a secret without its event is inert, an event without
    // its secret would be a channel that can never send.
    parts
        .secrets
        .store(tenant_id, channel_id, &parsed.secret)
        .await
        .map_err(|error| ApiError::internal(&error))?;
    let signing_secret = parsed.secret.signing_secret_display();
    let command = NotificationSetupCommand::AddChannel {
        tenant_id,
        channel_id,
        name: parsed.name,
        settings: parsed.settings,
        actor: caller.actor()?,
    };
    if let Err(error) = parts
        .setup
        .execute(
            &tenant_id.to_string(),
            command,
            caller.event_metadata(&headers),
        )
        .await
    {
        // Nothing half-written: the sealed row goes with the refused event.
        let _ = parts.secrets.shred(tenant_id, channel_id).await;
        return Err(setup_error(error));
    }
    let setup = load(&state, tenant_id).await?;
    let record = setup
        .channel(channel_id)
        .ok_or_else(|| ApiError::not_found("channel_not_found", "no such notification channel"))?;
    let mut view = channel_view(tenant_id, channel_id, record);
    if let Some(secret) = signing_secret {
        view["signing_secret"] = json!(secret);
    }
    Ok((StatusCode::CREATED, Json(view)))
}

/// `PUT .../{channel_id}` `{"type"?, "name", "config"}`: replaces the
/// channel's name and configuration. Secrets left out of `config` (a URL of
/// Slack, Teams or a webhook, PagerDuty's routing key and URL, an email
/// password with its user name) keep their stored values; given, even
/// `null`, they are replaced. The type cannot change. A webhook channel
/// keeps its signing secret, so receivers keep verifying.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct UpdateChannel {
    /// The channel's type, if given, must be the current one.
    #[serde(rename = "type")]
    channel_type: Option<String>,
    name: String,
    /// As in creation, for the channel's type; secrets may be left out to
    /// keep the stored ones.
    #[schema(value_type = Object)]
    config: Value,
}

/// `PUT`: new name and configuration; the secret (the stored one where the
/// update left it out) is sealed in place of the old, and
/// `NotificationChannelUpdated` records the non-secret part.
#[utoipa::path(
    put,
    path = "/api/v1/tenants/{id}/notification-channels/{channel_id}",
    tag = "notifications",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The tenant's id"), ("channel_id" = Uuid, Path, description = "The channel's id")),
    request_body(content = UpdateChannel, example = json!({"name": "Ops room (new)", "config": {"url": "https://hooks.slack.com/services/T000/B000/YYYY"}})),
    responses(
        (status = 200, description = "The channel, without its secrets", body = crate::openapi::schemas::NotificationChannel),
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
pub async fn update_channel(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((tenant, channel)): Path<(String, String)>,
    ApiJson(body): ApiJson<UpdateChannel>,
) -> Result<Json<Value>, ApiError> {
    let tenant_id = configurable(&state, &caller, &tenant)?;
    let channel_id = channel_id(&channel)?;
    let parts = state.notifications();
    let setup = load(&state, tenant_id).await?;
    let current = setup.channel(channel_id).ok_or_else(channel_not_found)?;
    let current_type = current.settings.channel_type();
    if let Some(given) = body.channel_type.as_deref() {
        if given != current_type.as_str() {
            return Err(ApiError::invalid_value(
                "type",
                format!("a channel's type cannot change (this one is {current_type}); add a new channel"),
            ));
        }
    }
    let previous = parts
        .secrets
        .load(tenant_id, channel_id)
        .await
        .map_err(|error| ApiError::internal(&error))?;
    let config = with_kept_secrets(&body.config, &previous);
    let mut parsed = parse_channel(current_type.as_str(), &body.name, &config, parts.policy)
        .map_err(|error| ApiError::invalid_value(error.field.clone(), error.to_string()))?;
    if let (
        alertledger_notify::ChannelSecret::Webhook { signing_key, .. },
        alertledger_notify::ChannelSecret::Webhook {
            signing_key: kept, ..
        },
    ) = (&mut parsed.secret, &previous)
    {
        signing_key.clone_from(kept);
    }
    parts
        .secrets
        .replace(tenant_id, channel_id, &parsed.secret)
        .await
        .map_err(|error| ApiError::internal(&error))?;
    let command = NotificationSetupCommand::UpdateChannel {
        channel_id,
        name: parsed.name,
        settings: parsed.settings,
        actor: caller.actor()?,
    };
    if let Err(error) = parts
        .setup
        .execute(
            &tenant_id.to_string(),
            command,
            caller.event_metadata(&headers),
        )
        .await
    {
        // The old secret goes back with the refused event.
        let _ = parts
            .secrets
            .replace(tenant_id, channel_id, &previous)
            .await;
        return Err(setup_error(error));
    }
    let setup = load(&state, tenant_id).await?;
    let record = setup.channel(channel_id).ok_or_else(channel_not_found)?;
    Ok(Json(channel_view(tenant_id, channel_id, record)))
}

/// `GET`: the tenant's channels, oldest first.
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{id}/notification-channels",
    tag = "notifications",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The tenant's id")),
    responses(
        (status = 200, description = "The tenant's channels, without secrets", body = crate::openapi::schemas::Page<crate::openapi::schemas::NotificationChannel>),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn list_channels(
    State(state): State<AppState>,
    caller: Caller,
    Path(tenant): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let tenant_id = readable(&state, &caller, &tenant)?;
    let setup = load(&state, tenant_id).await?;
    let items: Vec<Value> = setup
        .channels()
        .map(|(id, record)| channel_view(tenant_id, id, record))
        .collect();
    Ok(Json(json!({ "items": items, "next_cursor": null })))
}

/// `GET .../{channel_id}`.
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{id}/notification-channels/{channel_id}",
    tag = "notifications",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The tenant's id"), ("channel_id" = Uuid, Path, description = "The channel's id")),
    responses(
        (status = 200, description = "The channel, without its secrets", body = crate::openapi::schemas::NotificationChannel),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn show_channel(
    State(state): State<AppState>,
    caller: Caller,
    Path((tenant, channel)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let tenant_id = readable(&state, &caller, &tenant)?;
    let channel_id = channel_id(&channel)?;
    let setup = load(&state, tenant_id).await?;
    let record = setup.channel(channel_id).ok_or_else(channel_not_found)?;
    Ok(Json(channel_view(tenant_id, channel_id, record)))
}

/// `DELETE .../{channel_id}`: removes the channel and shreds its secret.
#[utoipa::path(
    delete,
    path = "/api/v1/tenants/{id}/notification-channels/{channel_id}",
    tag = "notifications",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The tenant's id"), ("channel_id" = Uuid, Path, description = "The channel's id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 409, response = crate::openapi::responses::Conflict),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn delete_channel(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((tenant, channel)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let tenant_id = configurable(&state, &caller, &tenant)?;
    let channel_id = channel_id(&channel)?;
    let parts = state.notifications();
    let command = NotificationSetupCommand::RemoveChannel {
        channel_id,
        actor: caller.actor()?,
    };
    parts
        .setup
        .execute(
            &tenant_id.to_string(),
            command,
            caller.event_metadata(&headers),
        )
        .await
        .map_err(setup_error)?;
    parts
        .secrets
        .shred(tenant_id, channel_id)
        .await
        .map_err(|error| ApiError::internal(&error))?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST .../{channel_id}/test`: one test message now, without retries;
/// 200 with how the receiver answered (`delivered: false` and the error when
/// it did not accept it).
#[utoipa::path(
    post,
    path = "/api/v1/tenants/{id}/notification-channels/{channel_id}/test",
    tag = "notifications",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The tenant's id"), ("channel_id" = Uuid, Path, description = "The channel's id")),
    responses(
        (status = 200, description = "How the receiver answered", body = crate::openapi::schemas::ChannelTestResult),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn test_channel(
    State(state): State<AppState>,
    caller: Caller,
    Path((tenant, channel)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let tenant_id = configurable(&state, &caller, &tenant)?;
    let channel_id = channel_id(&channel)?;
    let parts = state.notifications();
    let setup = load(&state, tenant_id).await?;
    let record = setup.channel(channel_id).ok_or_else(channel_not_found)?;
    let secret = parts
        .secrets
        .load(tenant_id, channel_id)
        .await
        .map_err(|error| ApiError::internal(&error))?;
    let message = Notification::test_message(*tenant_id.as_uuid(), state.services().now());
    let outcome = parts
        .senders
        .send(&message, &record.settings, &secret)
        .await;
    tracing::info!(
        tenant_id = %tenant_id,
        channel_id = %channel_id,
        channel_type = %record.settings.channel_type(),
        delivered = outcome.is_ok(),
        "notification channel tested"
    );
    Ok(Json(match outcome {
        Ok(accepted) => json!({
            "channel_id": channel_id, "delivered": true, "code": accepted.code, "error": null,
        }),
        Err(error) => json!({
            "channel_id": channel_id, "delivered": false, "code": error.code(),
            "error": error.to_string(),
        }),
    }))
}

/// The channel as the API shows it: `config` holds the non-secret settings.
fn channel_view(
    tenant_id: TenantId,
    channel_id: NotificationChannelId,
    record: &ChannelRecord,
) -> Value {
    let mut config = serde_json::to_value(&record.settings).unwrap_or_else(|_| json!({}));
    if let Some(map) = config.as_object_mut() {
        map.remove("type");
    }
    json!({
        "id": channel_id,
        "channel_id": channel_id,
        "tenant_id": tenant_id,
        "type": record.settings.channel_type(),
        "name": record.name,
        "config": config,
        "created_at": record.created_at,
    })
}

pub(crate) async fn load(
    state: &AppState,
    tenant_id: TenantId,
) -> Result<alertledger_domain::notification::NotificationSetup, ApiError> {
    state
        .notifications()
        .setup
        .load(&tenant_id.to_string())
        .await
        .map_err(setup_error)
}

/// A path's tenant, for a caller who may configure it, known to this process.
pub(crate) fn configurable(
    state: &AppState,
    caller: &Caller,
    raw: &str,
) -> Result<TenantId, ApiError> {
    let tenant_id = tenant_id(raw)?;
    caller.authorize(Action::Configure, &tenant_id)?;
    known(state, tenant_id)
}

pub(crate) fn readable(state: &AppState, caller: &Caller, raw: &str) -> Result<TenantId, ApiError> {
    let tenant_id = tenant_id(raw)?;
    caller.authorize(Action::Read, &tenant_id)?;
    known(state, tenant_id)
}

fn known(state: &AppState, tenant_id: TenantId) -> Result<TenantId, ApiError> {
    match state.directory().tenant(&tenant_id) {
        Some(_) => Ok(tenant_id),
        None => Err(ApiError::not_found("tenant_not_found", "no such tenant")),
    }
}

fn channel_id(raw: &str) -> Result<NotificationChannelId, ApiError> {
    NotificationChannelId::parse(raw).map_err(|_| channel_not_found())
}

fn channel_not_found() -> ApiError {
    ApiError::not_found("channel_not_found", "no such notification channel")
}

pub(crate) fn setup_error(error: AggregateError<NotificationSetupError>) -> ApiError {
    match error {
        AggregateError::UserError(NotificationSetupError::UnknownChannel { .. }) => {
            channel_not_found()
        }
        AggregateError::UserError(NotificationSetupError::UnknownRule { .. }) => {
            ApiError::not_found("rule_not_found", "no such notification rule")
        }
        AggregateError::UserError(
            refused @ NotificationSetupError::RuleNamesUnknownChannel { index },
        ) => ApiError::invalid_value(format!("channels[{index}]"), refused.to_string()),
        AggregateError::UserError(refused @ NotificationSetupError::ChannelTypeChanged) => {
            ApiError::invalid_value("type", refused.to_string())
        }
        AggregateError::UserError(rule) => {
            ApiError::new(StatusCode::CONFLICT, "conflict", rule.to_string())
        }
        AggregateError::AggregateConflict => ApiError::new(
            StatusCode::CONFLICT,
            "concurrent_change",
            "the notification set-up was changed at the same moment; retry",
        ),
        other => ApiError::internal(&other),
    }
}
