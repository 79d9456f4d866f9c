//! `/api/v1/tenants/{id}/notification-rules` (API.md "Notifications"): which
//! incident events notify which channels, or start which escalation policy.
//! Tenant admin and up change them; anyone who may read the tenant lists
//! them. Every change is a `NotificationSetup` event with its actor
//! (`NotificationRuleAdded`, `...Changed`, `...Removed`); the notifier
//! evaluates them (workers `notifier::rules`).
//!
//! Bad values are 422 naming the field (`events[1]`, `matchers[0]`,
//! `min_severity`, `channels[2]` for a channel the tenant does not have)
//! with nothing written.

use alertledger_domain::notification::{
    NotificationSetupCommand, RuleRecord, RuleSpec, RuleTarget,
};
use alertledger_domain::values::{EscalationPolicyId, NotificationRuleId, TenantId};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::notification_channels::{configurable, load, readable, setup_error};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;

/// `{"name", "events", "min_severity"?, "matchers"?, "channels"}` or
/// `"escalation_policy"` instead of `channels`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RuleBody {
    name: String,
    /// `incident_opened`, `incident_escalated`, `incident_reopened`,
    /// `incident_resolved`, `incident_acknowledged`, `approval_requested`,
    /// `execution_failed`.
    events: Vec<String>,
    /// `critical`, `high`, `medium` or `low`: that severity and above.
    #[serde(default)]
    min_severity: Option<String>,
    /// Alertmanager matchers on `asset`, `signature`, `severity`, `source` or a label.
    #[serde(default)]
    matchers: Vec<String>,
    /// Channel ids of this tenant.
    #[serde(default)]
    channels: Option<Vec<String>>,
    /// An escalation policy's id (instead of `channels`).
    #[serde(default)]
    escalation_policy: Option<String>,
}

impl RuleBody {
    fn spec(&self) -> Result<RuleSpec, ApiError> {
        RuleSpec::new(
            &self.name,
            &self.events,
            self.min_severity.as_deref(),
            &self.matchers,
            self.channels.as_deref(),
            self.escalation_policy.as_deref(),
        )
        .map_err(|error| ApiError::invalid_value(error.field.clone(), error.to_string()))
    }
}

/// 422 unless the rule's escalation policy (if it names one) is one of the
/// tenant's: a rule must not page through a policy that is not there.
async fn policy_exists(
    state: &AppState,
    tenant_id: TenantId,
    rule: &RuleSpec,
) -> Result<(), ApiError> {
    let RuleTarget::EscalationPolicy(policy) = rule.target() else {
        return Ok(());
    };
    let setup = state
        .escalation()
        .setup
        .load(&tenant_id.to_string())
        .await
        .map_err(super::escalation_access::setup_error)?;
    if setup
        .policy(EscalationPolicyId::from_uuid(*policy))
        .is_none()
    {
        return Err(ApiError::invalid_value(
            "escalation_policy",
            "`escalation_policy` names no escalation policy of this tenant",
        ));
    }
    Ok(())
}

/// `POST`: adds a rule; 201 with the rule.
#[utoipa::path(
    post,
    path = "/api/v1/tenants/{id}/notification-rules",
    tag = "notifications",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The tenant's id")),
    request_body(content = RuleBody, example = json!({"name": "Critical to Slack", "events": ["incident_opened", "incident_escalated"], "min_severity": "high", "matchers": ["asset=~\"srv-db-.*\""], "channels": ["0190f3c4-8a7e-7b4c-9d3a-5e2f1a6b7c8d"]})),
    responses(
        (status = 201, description = "The rule", body = crate::openapi::schemas::NotificationRule),
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
pub async fn create_rule(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(tenant): Path<String>,
    ApiJson(body): ApiJson<RuleBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let tenant_id = configurable(&state, &caller, &tenant)?;
    let rule = body.spec()?;
    policy_exists(&state, tenant_id, &rule).await?;
    let rule_id = NotificationRuleId::new_v7();
    let command = NotificationSetupCommand::AddRule {
        tenant_id,
        rule_id,
        rule,
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
    let record = setup.rule(rule_id).ok_or_else(rule_not_found)?;
    Ok((
        StatusCode::CREATED,
        Json(rule_view(tenant_id, rule_id, record)),
    ))
}

/// `GET`: the tenant's rules, oldest first.
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{id}/notification-rules",
    tag = "notifications",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The tenant's id")),
    responses(
        (status = 200, description = "The tenant's rules", body = crate::openapi::schemas::Page<crate::openapi::schemas::NotificationRule>),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn list_rules(
    State(state): State<AppState>,
    caller: Caller,
    Path(tenant): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let tenant_id = readable(&state, &caller, &tenant)?;
    let setup = load(&state, tenant_id).await?;
    let items: Vec<Value> = setup
        .rules()
        .map(|(id, record)| rule_view(tenant_id, id, record))
        .collect();
    Ok(Json(json!({ "items": items, "next_cursor": null })))
}

/// `GET .../{rule_id}`.
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{id}/notification-rules/{rule_id}",
    tag = "notifications",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The tenant's id"), ("rule_id" = Uuid, Path, description = "The rule's id")),
    responses(
        (status = 200, description = "The rule", body = crate::openapi::schemas::NotificationRule),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn show_rule(
    State(state): State<AppState>,
    caller: Caller,
    Path((tenant, rule)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let tenant_id = readable(&state, &caller, &tenant)?;
    let rule_id = rule_id(&rule)?;
    let setup = load(&state, tenant_id).await?;
    let record = setup.rule(rule_id).ok_or_else(rule_not_found)?;
    Ok(Json(rule_view(tenant_id, rule_id, record)))
}

/// `PUT .../{rule_id}`: replaces the rule (same body as `POST`).
#[utoipa::path(
    put,
    path = "/api/v1/tenants/{id}/notification-rules/{rule_id}",
    tag = "notifications",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The tenant's id"), ("rule_id" = Uuid, Path, description = "The rule's id")),
    request_body(content = RuleBody),
    responses(
        (status = 200, description = "The rule", body = crate::openapi::schemas::NotificationRule),
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
pub async fn update_rule(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((tenant, rule)): Path<(String, String)>,
    ApiJson(body): ApiJson<RuleBody>,
) -> Result<Json<Value>, ApiError> {
    let tenant_id = configurable(&state, &caller, &tenant)?;
    let rule_id = rule_id(&rule)?;
    let rule = body.spec()?;
    policy_exists(&state, tenant_id, &rule).await?;
    let command = NotificationSetupCommand::ChangeRule {
        rule_id,
        rule,
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
    let record = setup.rule(rule_id).ok_or_else(rule_not_found)?;
    Ok(Json(rule_view(tenant_id, rule_id, record)))
}

/// `DELETE .../{rule_id}`.
#[utoipa::path(
    delete,
    path = "/api/v1/tenants/{id}/notification-rules/{rule_id}",
    tag = "notifications",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The tenant's id"), ("rule_id" = Uuid, Path, description = "The rule's id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 409, response = crate::openapi::responses::Conflict),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn delete_rule(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((tenant, rule)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let tenant_id = configurable(&state, &caller, &tenant)?;
    let rule_id = rule_id(&rule)?;
    let command = NotificationSetupCommand::RemoveRule {
        rule_id,
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
    Ok(StatusCode::NO_CONTENT)
}

/// The rule as the API shows it (the request's shape, plus ids and times).
fn rule_view(tenant_id: TenantId, rule_id: NotificationRuleId, record: &RuleRecord) -> Value {
    let rule = &record.rule;
    let mut view = json!({
        "id": rule_id,
        "rule_id": rule_id,
        "tenant_id": tenant_id,
        "name": rule.name(),
        "events": rule.events().iter().map(|e| e.as_str()).collect::<Vec<_>>(),
        "min_severity": rule.min_severity().map(|s| s.as_str()),
        "matchers": rule.matchers().iter().map(ToString::to_string).collect::<Vec<_>>(),
        "created_at": record.created_at,
        "updated_at": record.updated_at,
    });
    match rule.target() {
        RuleTarget::Channels(channels) => view["channels"] = json!(channels),
        RuleTarget::EscalationPolicy(policy) => view["escalation_policy"] = json!(policy),
    }
    view
}

fn rule_id(raw: &str) -> Result<NotificationRuleId, ApiError> {
    NotificationRuleId::parse(raw).map_err(|_| rule_not_found())
}

fn rule_not_found() -> ApiError {
    ApiError::not_found("rule_not_found", "no such notification rule")
}
