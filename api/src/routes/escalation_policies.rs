//! Escalation policies (API.md "Notifications"):
//! `POST /api/v1/tenants/{id}/escalation-policies`
//! `{"name", "levels": [{"delay_minutes", "channels": [..]} | {"delay_minutes", "schedule": id}], "repeat": 0}`
//! with `GET`/`PUT`/`DELETE` (tenant admin and up change them, any member
//! reads them), and `POST /api/v1/incidents/{id}/escalation` `{"policy_id"}`,
//! which starts a policy for an incident by hand (an operator's page). Every
//! change is an event; the escalation worker then records each level
//! reached.

use alertledger_domain::escalation::{
    EscalationCause, EscalationCommand, EscalationError, EscalationSetupCommand, Level,
    PolicyFields, PolicyRecord, PolicySpec,
};
use alertledger_domain::incident::IncidentStatus;
use alertledger_domain::values::{
    EscalationId, EscalationPolicyId, IncidentId, ScheduleId, TenantId,
};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use super::escalation_access::{
    channel_of, configurable, invalid_spec, load_channels, load_setup, policy_not_found, readable,
    setup_error,
};
use super::operate::{operable_tenant, store_failure};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;

/// Most characters of the note of a manual start.
const MAX_NOTE_CHARS: usize = 1000;

/// One level: `delay_minutes` and exactly one of `channels` and `schedule`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct LevelBody {
    /// How long this level waits for an acknowledgement before the next
    /// level is reached (1 to 10080).
    delay_minutes: i64,
    /// Notification channel ids of the tenant.
    channels: Option<Vec<String>>,
    /// An on-call schedule id of the tenant: whoever is on call when the
    /// level is reached.
    schedule: Option<String>,
}

/// A policy's definition (`POST` and `PUT`).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PolicyBody {
    name: String,
    levels: Vec<LevelBody>,
    /// How many times the policy starts again at level 1 after its last
    /// level (0 to 9; default 0).
    repeat: Option<i64>,
}

/// `{"policy_id", "note"?}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct StartBody {
    policy_id: String,
    note: Option<String>,
}

/// A policy as the API shows it.
#[derive(utoipa::ToSchema)]
#[schema(example = json!({
    "id": "0190f3c0-0000-7000-8000-0000000000e1", "policy_id": "0190f3c0-0000-7000-8000-0000000000e1",
    "tenant_id": "0190f3c0-0000-7000-8000-000000000001", "name": "Database on-call",
    "levels": [{"delay_minutes": 10, "channels": ["0190f3c0-0000-7000-8000-0000000000c1"]},
               {"delay_minutes": 15, "schedule": "0190f3c0-0000-7000-8000-00000000000a"}],
    "repeat": 1, "created_at": "2026-03-01T10:00:00Z", "updated_at": "2026-03-01T10:00:00Z"
}))]
pub struct EscalationPolicyView {
    pub id: Uuid,
    pub policy_id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    /// `[{"delay_minutes", "channels": [..]} | {"delay_minutes", "schedule"}]`.
    pub levels: Vec<Value>,
    pub repeat: u32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A started escalation.
#[derive(utoipa::ToSchema)]
pub struct EscalationStartedView {
    pub escalation_id: Uuid,
    pub incident_id: Uuid,
    pub policy_id: Uuid,
    /// 1 for the first start of this policy on the incident, then 2, ...
    pub run: u32,
    /// `running`.
    pub status: String,
}

/// `POST`: defines a policy; 201 with it.
#[utoipa::path(
    post,
    path = "/api/v1/tenants/{id}/escalation-policies",
    tag = "notifications",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The tenant's id")),
    request_body(content = PolicyBody, example = json!({"name": "Database on-call",
        "levels": [{"delay_minutes": 10, "channels": ["0190f3c0-0000-7000-8000-0000000000c1"]},
                   {"delay_minutes": 15, "schedule": "0190f3c0-0000-7000-8000-00000000000a"}],
        "repeat": 1})),
    responses(
        (status = 201, description = "The policy", body = EscalationPolicyView),
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
pub async fn create_policy(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(tenant): Path<String>,
    ApiJson(body): ApiJson<PolicyBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let tenant_id = configurable(&state, &caller, &tenant)?;
    let spec = policy_spec(&state, tenant_id, &body).await?;
    let policy_id = EscalationPolicyId::new_v7();
    let command = EscalationSetupCommand::CreatePolicy {
        tenant_id,
        policy_id,
        spec,
        actor: caller.actor()?,
    };
    execute(&state, &caller, &headers, tenant_id, command).await?;
    let view = policy_view_of(&state, tenant_id, policy_id).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// `GET`: the tenant's policies, oldest first.
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{id}/escalation-policies",
    tag = "notifications",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The tenant's id")),
    responses(
        (status = 200, description = "The tenant's policies", body = crate::openapi::schemas::Page<EscalationPolicyView>),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn list_policies(
    State(state): State<AppState>,
    caller: Caller,
    Path(tenant): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let tenant_id = readable(&state, &caller, &tenant)?;
    let setup = load_setup(&state, tenant_id).await?;
    let items: Vec<Value> = setup
        .policies()
        .map(|(id, record)| policy_view(tenant_id, id, record))
        .collect();
    Ok(Json(json!({ "items": items, "next_cursor": null })))
}

/// `GET .../{policy_id}`.
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{id}/escalation-policies/{policy_id}",
    tag = "notifications",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The tenant's id"), ("policy_id" = Uuid, Path, description = "The policy's id")),
    responses(
        (status = 200, description = "The policy", body = EscalationPolicyView),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn show_policy(
    State(state): State<AppState>,
    caller: Caller,
    Path((tenant, policy)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let tenant_id = readable(&state, &caller, &tenant)?;
    let policy_id = policy_id(&policy)?;
    Ok(Json(policy_view_of(&state, tenant_id, policy_id).await?))
}

/// `PUT .../{policy_id}`: replaces the definition; running escalations
/// follow it from their next step.
#[utoipa::path(
    put,
    path = "/api/v1/tenants/{id}/escalation-policies/{policy_id}",
    tag = "notifications",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The tenant's id"), ("policy_id" = Uuid, Path, description = "The policy's id")),
    request_body(content = PolicyBody),
    responses(
        (status = 200, description = "The policy as changed", body = EscalationPolicyView),
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
pub async fn change_policy(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((tenant, policy)): Path<(String, String)>,
    ApiJson(body): ApiJson<PolicyBody>,
) -> Result<Json<Value>, ApiError> {
    let tenant_id = configurable(&state, &caller, &tenant)?;
    let policy_id = policy_id(&policy)?;
    let spec = policy_spec(&state, tenant_id, &body).await?;
    let command = EscalationSetupCommand::ChangePolicy {
        policy_id,
        spec,
        actor: caller.actor()?,
    };
    execute(&state, &caller, &headers, tenant_id, command).await?;
    Ok(Json(policy_view_of(&state, tenant_id, policy_id).await?))
}

/// `DELETE .../{policy_id}`: running escalations of it stop at their next step.
#[utoipa::path(
    delete,
    path = "/api/v1/tenants/{id}/escalation-policies/{policy_id}",
    tag = "notifications",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The tenant's id"), ("policy_id" = Uuid, Path, description = "The policy's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 409, response = crate::openapi::responses::Conflict),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn delete_policy(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((tenant, policy)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let tenant_id = configurable(&state, &caller, &tenant)?;
    let policy_id = policy_id(&policy)?;
    let command = EscalationSetupCommand::DeletePolicy {
        policy_id,
        actor: caller.actor()?,
    };
    execute(&state, &caller, &headers, tenant_id, command).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/incidents/{id}/escalation` `{"policy_id", "note"?}`:
/// starts the policy for the incident now (level 1 is reached at the
/// escalator's next round). 409 while it already runs for the incident, or
/// when the incident is acknowledged or resolved.
#[utoipa::path(
    post,
    path = "/api/v1/incidents/{id}/escalation",
    tag = "incidents",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The incident's id")),
    request_body(content = StartBody, example = json!({"policy_id": "0190f3c0-0000-7000-8000-0000000000e1", "note": "database down, nobody answers"})),
    responses(
        (status = 201, description = "Started", body = EscalationStartedView),
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
pub async fn start_escalation(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<StartBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let not_found = || ApiError::not_found("incident_not_found", "no such incident");
    let incident_id = IncidentId::parse(&id).map_err(|_| not_found())?;
    let incident = state
        .incidents()
        .load(&incident_id.to_string())
        .await
        .map_err(|error| store_failure(error, "incident"))?;
    let tenant_id = operable_tenant(&caller, incident.tenant_id(), not_found)?;
    let policy_id = EscalationPolicyId::parse(&body.policy_id).map_err(|_| {
        ApiError::invalid_value("policy_id", "`policy_id` must be a policy id (UUID)")
    })?;
    let setup = load_setup(&state, tenant_id).await?;
    if setup.policy(policy_id).is_none() {
        return Err(ApiError::invalid_value(
            "policy_id",
            "`policy_id` names no escalation policy of the incident's tenant",
        ));
    }
    let note = match body.note.as_deref().map(str::trim) {
        Some(note) if note.chars().count() > MAX_NOTE_CHARS || note.chars().any(char::is_control) => {
            return Err(ApiError::invalid_value(
                "note",
                format!("`note` must have at most {MAX_NOTE_CHARS} characters and no control characters"),
            ))
        }
        Some("") | None => None,
        Some(note) => Some(note.to_owned()),
    };
    if incident.status() == IncidentStatus::Resolved {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "incident_resolved",
            "the incident is resolved: nobody needs paging",
        ));
    }
    if incident.is_acknowledged() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "incident_acknowledged",
            "the incident is acknowledged: someone is on it",
        ));
    }
    let escalation_id = EscalationId::for_incident(&incident_id, &policy_id);
    let command = EscalationCommand::StartEscalation {
        tenant_id,
        incident_id,
        policy_id,
        cause: EscalationCause::Manual { note },
        actor: caller.actor()?,
    };
    let escalations = &state.escalation().escalations;
    escalations
        .execute(
            &escalation_id.to_string(),
            command,
            caller.event_metadata(&headers),
        )
        .await
        .map_err(|error| match error {
            cqrs_es::AggregateError::UserError(EscalationError::AlreadyRunning) => ApiError::new(
                StatusCode::CONFLICT,
                "escalation_running",
                "this policy is already escalating the incident",
            ),
            cqrs_es::AggregateError::UserError(rule) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", rule.to_string())
            }
            other => store_failure(other, "escalation"),
        })?;
    let run = escalations
        .load(&escalation_id.to_string())
        .await
        .map_err(|error| store_failure(error, "escalation"))?
        .run()
        .map_or(1, |state| state.run);
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "escalation_id": escalation_id,
            "incident_id": incident_id,
            "policy_id": policy_id,
            "run": run,
            "status": "running",
        })),
    ))
}

async fn execute(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    tenant_id: TenantId,
    command: EscalationSetupCommand,
) -> Result<(), ApiError> {
    state
        .escalation()
        .setup
        .execute(
            &tenant_id.to_string(),
            command,
            caller.event_metadata(headers),
        )
        .await
        .map_err(setup_error)
}

/// Reads a policy body; 422 naming the first bad field. Channels must be
/// the tenant's; schedules must be the tenant's (checked here, and again by
/// the set-up aggregate).
async fn policy_spec(
    state: &AppState,
    tenant_id: TenantId,
    body: &PolicyBody,
) -> Result<PolicySpec, ApiError> {
    let channels = load_channels(state, tenant_id).await?;
    let setup = load_setup(state, tenant_id).await?;
    let mut levels = Vec::with_capacity(body.levels.len());
    for (index, raw) in body.levels.iter().enumerate() {
        let field = format!("levels[{index}].delay_minutes");
        let delay_minutes = u32::try_from(raw.delay_minutes).map_err(|_| {
            ApiError::invalid_value(
                field.clone(),
                format!("`{field}` must be between 1 and 10080"),
            )
        })?;
        let channel_ids = match &raw.channels {
            None => None,
            Some(list) => Some(
                list.iter()
                    .enumerate()
                    .map(|(n, raw)| {
                        channel_of(&channels, &format!("levels[{index}].channels[{n}]"), raw)
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        let schedule = match &raw.schedule {
            None => None,
            Some(raw) => {
                let field = format!("levels[{index}].schedule");
                let schedule_id = ScheduleId::parse(raw)
                    .ok()
                    .filter(|id| setup.schedule(*id).is_some())
                    .ok_or_else(|| {
                        ApiError::invalid_value(
                            field.clone(),
                            format!("`{field}` names no on-call schedule of this tenant"),
                        )
                    })?;
                Some(schedule_id)
            }
        };
        levels.push(Level {
            delay_minutes,
            channels: channel_ids,
            schedule,
        });
    }
    let repeat = match body.repeat {
        None => 0,
        Some(raw) => u32::try_from(raw)
            .map_err(|_| ApiError::invalid_value("repeat", "`repeat` must be between 0 and 9"))?,
    };
    PolicySpec::new(PolicyFields {
        name: body.name.clone(),
        levels,
        repeat,
    })
    .map_err(invalid_spec)
}

fn policy_id(raw: &str) -> Result<EscalationPolicyId, ApiError> {
    EscalationPolicyId::parse(raw).map_err(|_| policy_not_found())
}

async fn policy_view_of(
    state: &AppState,
    tenant_id: TenantId,
    policy_id: EscalationPolicyId,
) -> Result<Value, ApiError> {
    let setup = load_setup(state, tenant_id).await?;
    let record = setup.policy(policy_id).ok_or_else(policy_not_found)?;
    Ok(policy_view(tenant_id, policy_id, record))
}

fn policy_view(tenant_id: TenantId, policy_id: EscalationPolicyId, record: &PolicyRecord) -> Value {
    let fields = record.spec.fields();
    json!({
        "id": policy_id,
        "policy_id": policy_id,
        "tenant_id": tenant_id,
        "name": fields.name,
        "levels": fields.levels,
        "repeat": fields.repeat,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
    })
}
