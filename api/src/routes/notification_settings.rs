//! `/api/v1/tenants/{id}/notification-settings`: a tenant's own notification
//! settings, today its storm-coalescing interval (at most one message per
//! incident and channel per interval; what comes in between is the next
//! message's digest). Tenant admin and up set it; anyone who may read the
//! tenant reads it. Unset (`null`), the notifier's process setting applies
//! (`ALERTLEDGER_NOTIFY_COALESCE_SECONDS`). Every change is a
//! `NotificationSettingsChanged` event with its actor.

use alertledger_domain::notification::{
    CoalesceSeconds, NotificationSetup, NotificationSetupCommand,
};
use alertledger_domain::values::TenantId;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::notification_channels::{configurable, load, readable, setup_error};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;

/// `{"coalesce_seconds": 0..86400 | null}` (`null`: the process setting).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ChangeNotificationSettings {
    /// Seconds, a whole number from 0 to 86400; `null` goes back to the
    /// process setting. Required (`null` must be said).
    #[schema(value_type = Option<u32>, minimum = 0, maximum = 86400)]
    coalesce_seconds: Value,
}

/// `PUT`: sets the tenant's coalescing interval; 200 with the settings.
#[utoipa::path(
    put,
    path = "/api/v1/tenants/{id}/notification-settings",
    tag = "notifications",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The tenant's id")),
    request_body(content = ChangeNotificationSettings, example = json!({"coalesce_seconds": 300})),
    responses(
        (status = 200, description = "The tenant's notification settings", body = crate::openapi::schemas::NotificationSettings),
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
#[tracing::instrument(name = "change_notification_settings", skip_all, fields(user = %caller.user_id))]
pub async fn change_settings(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(tenant): Path<String>,
    ApiJson(body): ApiJson<ChangeNotificationSettings>,
) -> Result<Json<Value>, ApiError> {
    let tenant_id = configurable(&state, &caller, &tenant)?;
    let coalesce_seconds = match &body.coalesce_seconds {
        Value::Null => None,
        given => Some(
            CoalesceSeconds::parse(given)
                .map_err(|error| ApiError::invalid_value(error.field(), error.to_string()))?,
        ),
    };
    let command = NotificationSetupCommand::ChangeSettings {
        tenant_id,
        coalesce_seconds,
        actor: caller.actor()?,
    };
    state
        .notifications()
        .setup
        .execute(
            &tenant_id.to_string(),
            command,
            caller.event_metadata(&headers),
        )
        .await
        .map_err(setup_error)?;
    let setup = load(&state, tenant_id).await?;
    Ok(Json(settings_view(tenant_id, &setup)))
}

/// `GET`: the tenant's notification settings.
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{id}/notification-settings",
    tag = "notifications",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The tenant's id")),
    responses(
        (status = 200, description = "The tenant's notification settings", body = crate::openapi::schemas::NotificationSettings),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
#[tracing::instrument(name = "show_notification_settings", skip_all, fields(user = %caller.user_id))]
pub async fn show_settings(
    State(state): State<AppState>,
    caller: Caller,
    Path(tenant): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let tenant_id = readable(&state, &caller, &tenant)?;
    let setup = load(&state, tenant_id).await?;
    Ok(Json(settings_view(tenant_id, &setup)))
}

fn settings_view(tenant_id: TenantId, setup: &NotificationSetup) -> Value {
    json!({
        "tenant_id": tenant_id,
        "coalesce_seconds": setup.coalesce_seconds(),
    })
}
