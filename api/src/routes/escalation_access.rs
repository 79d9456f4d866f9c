//! What the on-call schedule and escalation policy routes share: whose
//! tenant a request may touch, loading the tenant's `EscalationSetup`,
//! checking that named channels exist in the tenant, and turning the set-up's
//! refusals into API errors.

use alertledger_domain::escalation::{EscalationSetup, EscalationSetupError, SpecError};
use alertledger_domain::notification::NotificationSetup;
use alertledger_domain::values::{NotificationChannelId, TenantId};
use axum::http::StatusCode;
use cqrs_es::AggregateError;

use super::operate::store_failure;
use super::tenants::tenant_id;
use crate::auth::{Action, Caller};
use crate::error::ApiError;
use crate::state::AppState;

/// A path's tenant, for a caller who may configure it (tenant admin and up).
pub(crate) fn configurable(
    state: &AppState,
    caller: &Caller,
    raw: &str,
) -> Result<TenantId, ApiError> {
    let tenant_id = tenant_id(raw)?;
    caller.authorize(Action::Configure, &tenant_id)?;
    known(state, tenant_id)
}

/// A path's tenant, for a caller who may read it (any member).
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

/// The tenant's schedules and policies as they stand.
pub(crate) async fn load_setup(
    state: &AppState,
    tenant_id: TenantId,
) -> Result<EscalationSetup, ApiError> {
    state
        .escalation()
        .setup
        .load(&tenant_id.to_string())
        .await
        .map_err(setup_error)
}

/// The tenant's notification channels as they stand.
pub(crate) async fn load_channels(
    state: &AppState,
    tenant_id: TenantId,
) -> Result<NotificationSetup, ApiError> {
    state
        .notifications()
        .setup
        .load(&tenant_id.to_string())
        .await
        .map_err(|error| store_failure(error, "notification set-up"))
}

/// A channel id from body field `field` that names a channel of the tenant.
pub(crate) fn channel_of(
    channels: &NotificationSetup,
    field: &str,
    raw: &str,
) -> Result<NotificationChannelId, ApiError> {
    let channel_id = NotificationChannelId::parse(raw).map_err(|_| {
        ApiError::invalid_value(field, format!("`{field}` must be a channel id (UUID)"))
    })?;
    if channels.channel(channel_id).is_none() {
        return Err(ApiError::invalid_value(
            field,
            format!("`{field}` names no notification channel of this tenant"),
        ));
    }
    Ok(channel_id)
}

/// 422 naming the field of a refused definition.
pub(crate) fn invalid_spec(error: SpecError) -> ApiError {
    let message = format!("`{}` {}", error.field, error.problem);
    ApiError::invalid_value(error.field, message)
}

pub(crate) fn schedule_not_found() -> ApiError {
    ApiError::not_found("schedule_not_found", "no such on-call schedule")
}

pub(crate) fn policy_not_found() -> ApiError {
    ApiError::not_found("escalation_policy_not_found", "no such escalation policy")
}

/// The set-up's refusals: unknown ids are 404, a policy naming an unknown
/// schedule is 422 naming the level, other broken rules 409.
pub(crate) fn setup_error(error: AggregateError<EscalationSetupError>) -> ApiError {
    match error {
        AggregateError::UserError(rule) => match rule {
            EscalationSetupError::UnknownSchedule { .. } => schedule_not_found(),
            EscalationSetupError::UnknownPolicy { .. } => policy_not_found(),
            EscalationSetupError::UnknownOverride { .. } => {
                ApiError::not_found("override_not_found", "no such override")
            }
            EscalationSetupError::PolicyNamesUnknownSchedule { field, .. } => {
                let message = format!("`{field}` names no on-call schedule of this tenant");
                ApiError::invalid_value(field, message)
            }
            EscalationSetupError::ScheduleInUse { .. } => {
                ApiError::new(StatusCode::CONFLICT, "schedule_in_use", rule.to_string())
            }
            other => ApiError::new(StatusCode::CONFLICT, "conflict", other.to_string()),
        },
        other => store_failure(other, "escalation set-up"),
    }
}
