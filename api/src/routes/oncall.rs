//! On-call schedules (issue 18): `/api/v1/tenants/{id}/oncall-schedules`
//! (tenant admin and up change them, any member of the tenant reads them),
//! their overrides beneath, and `GET /api/v1/oncall?tenant=&at=`, who is on
//! call. Every change is an `EscalationSetup` event with its actor; a
//! participant's channel must be an existing notification channel of the
//! tenant. Bad input is 422 naming the field, with nothing written.

use alertledger_domain::escalation::{
    local_date, EscalationSetupCommand, Handoff, OverrideSpec, Participant, RotationFields,
    ScheduleFields, ScheduleRecord, ScheduleSpec,
};
use alertledger_domain::notification::NotificationSetup;
use alertledger_domain::values::{OverrideId, ScheduleId, TenantId};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use super::escalation_access::{
    channel_of, configurable, invalid_spec, load_channels, load_setup, readable,
    schedule_not_found, setup_error,
};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery};
use crate::state::AppState;

/// `{"name", "channel_id"}`: someone who can be on call, and the
/// notification channel that reaches them.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ParticipantBody {
    name: String,
    /// An existing notification channel of the tenant.
    channel_id: String,
}

/// `{"handoff": "daily"|"weekly", "handoff_time": "HH:MM", "start_date"?: "YYYY-MM-DD"}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RotationBody {
    /// `daily` or `weekly`.
    handoff: String,
    /// Local time of day of each handoff, `HH:MM`, in the schedule's zone.
    handoff_time: String,
    /// Local date of the first shift (participant 1); a weekly rotation
    /// hands over on this date's weekday. Default: today in the zone.
    start_date: Option<String>,
}

/// A schedule's definition (`POST` and `PUT`).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ScheduleBody {
    name: String,
    /// An IANA time zone, e.g. `Europe/Berlin`.
    timezone: String,
    rotation: RotationBody,
    /// In rotation order.
    participants: Vec<ParticipantBody>,
}

/// `{"participant": {"name", "channel_id"}, "starts_at", "ends_at"}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct OverrideBody {
    participant: ParticipantBody,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
}

/// `?tenant=&at=` of `GET /api/v1/oncall`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct OnCallQuery {
    /// The tenant (default: every tenant the caller may read).
    tenant: Option<String>,
    /// The instant asked about, RFC 3339 (default: now).
    at: Option<String>,
}

/// A schedule as the API shows it.
#[derive(utoipa::ToSchema)]
#[schema(example = json!({
    "id": "0190f3c0-0000-7000-8000-00000000000a", "schedule_id": "0190f3c0-0000-7000-8000-00000000000a",
    "tenant_id": "0190f3c0-0000-7000-8000-000000000001", "name": "Primary", "timezone": "Europe/Berlin",
    "rotation": {"handoff": "weekly", "handoff_time": "09:00", "start_date": "2026-03-02"},
    "participants": [{"name": "Alice", "channel_id": "0190f3c0-0000-7000-8000-0000000000c1"}],
    "overrides": [], "created_at": "2026-03-01T10:00:00Z", "updated_at": "2026-03-01T10:00:00Z"
}))]
pub struct OnCallScheduleView {
    pub id: Uuid,
    pub schedule_id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub timezone: String,
    /// `{"handoff", "handoff_time", "start_date"}`.
    pub rotation: Value,
    /// `[{"name", "channel_id"}]`, in rotation order.
    pub participants: Vec<Value>,
    /// `[{"id", "override_id", "participant", "starts_at", "ends_at"}]`.
    pub overrides: Vec<Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Who is on call in one schedule.
#[derive(utoipa::ToSchema)]
pub struct OnCallEntry {
    pub tenant_id: Uuid,
    pub schedule_id: Uuid,
    pub schedule_name: String,
    /// `{"name", "channel_id"}`; null when nobody is (before the rotation starts).
    pub participant: Option<Value>,
    pub channel_id: Option<Uuid>,
    /// Start of this stretch (a handoff, or an override's start or end).
    pub since: Option<DateTime<Utc>>,
    /// Its end (the next handoff, or an override's start or end).
    pub until: Option<DateTime<Utc>>,
    /// The override that put them on call, if one did.
    pub override_id: Option<Uuid>,
}

/// `GET /api/v1/oncall`'s answer.
#[derive(utoipa::ToSchema)]
pub struct OnCallAnswer {
    pub at: DateTime<Utc>,
    pub items: Vec<OnCallEntry>,
    pub next_cursor: Option<String>,
}

/// `POST`: defines a schedule; 201 with it.
#[utoipa::path(
    post,
    path = "/api/v1/tenants/{id}/oncall-schedules",
    tag = "notifications",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The tenant's id")),
    request_body(content = ScheduleBody, example = json!({"name": "Primary", "timezone": "Europe/Berlin",
        "rotation": {"handoff": "weekly", "handoff_time": "09:00", "start_date": "2026-03-02"},
        "participants": [{"name": "Alice", "channel_id": "0190f3c0-0000-7000-8000-0000000000c1"},
                         {"name": "Bob", "channel_id": "0190f3c0-0000-7000-8000-0000000000c2"}]})),
    responses(
        (status = 201, description = "The schedule", body = OnCallScheduleView),
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
pub async fn create_schedule(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(tenant): Path<String>,
    ApiJson(body): ApiJson<ScheduleBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let tenant_id = configurable(&state, &caller, &tenant)?;
    let channels = load_channels(&state, tenant_id).await?;
    let spec = schedule_spec(&body, &channels, state.services().now())?;
    let schedule_id = ScheduleId::new_v7();
    let command = EscalationSetupCommand::CreateSchedule {
        tenant_id,
        schedule_id,
        spec,
        actor: caller.actor()?,
    };
    execute(&state, &caller, &headers, tenant_id, command).await?;
    let view = schedule_view_of(&state, tenant_id, schedule_id).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// `GET`: the tenant's schedules, oldest first.
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{id}/oncall-schedules",
    tag = "notifications",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The tenant's id")),
    responses(
        (status = 200, description = "The tenant's schedules", body = crate::openapi::schemas::Page<OnCallScheduleView>),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn list_schedules(
    State(state): State<AppState>,
    caller: Caller,
    Path(tenant): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let tenant_id = readable(&state, &caller, &tenant)?;
    let setup = load_setup(&state, tenant_id).await?;
    let items: Vec<Value> = setup
        .schedules()
        .map(|(id, record)| schedule_view(tenant_id, id, record))
        .collect();
    Ok(Json(json!({ "items": items, "next_cursor": null })))
}

/// `GET .../{schedule_id}`.
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{id}/oncall-schedules/{schedule_id}",
    tag = "notifications",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The tenant's id"), ("schedule_id" = Uuid, Path, description = "The schedule's id")),
    responses(
        (status = 200, description = "The schedule", body = OnCallScheduleView),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn show_schedule(
    State(state): State<AppState>,
    caller: Caller,
    Path((tenant, schedule)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let tenant_id = readable(&state, &caller, &tenant)?;
    let schedule_id = schedule_id(&schedule)?;
    Ok(Json(
        schedule_view_of(&state, tenant_id, schedule_id).await?,
    ))
}

/// `PUT .../{schedule_id}`: replaces the definition (overrides stay).
#[utoipa::path(
    put,
    path = "/api/v1/tenants/{id}/oncall-schedules/{schedule_id}",
    tag = "notifications",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The tenant's id"), ("schedule_id" = Uuid, Path, description = "The schedule's id")),
    request_body(content = ScheduleBody),
    responses(
        (status = 200, description = "The schedule as changed", body = OnCallScheduleView),
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
pub async fn change_schedule(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((tenant, schedule)): Path<(String, String)>,
    ApiJson(body): ApiJson<ScheduleBody>,
) -> Result<Json<Value>, ApiError> {
    let tenant_id = configurable(&state, &caller, &tenant)?;
    let schedule_id = schedule_id(&schedule)?;
    let channels = load_channels(&state, tenant_id).await?;
    let spec = schedule_spec(&body, &channels, state.services().now())?;
    let command = EscalationSetupCommand::ChangeSchedule {
        schedule_id,
        spec,
        actor: caller.actor()?,
    };
    execute(&state, &caller, &headers, tenant_id, command).await?;
    Ok(Json(
        schedule_view_of(&state, tenant_id, schedule_id).await?,
    ))
}

/// `DELETE .../{schedule_id}`: 409 while a policy names it.
#[utoipa::path(
    delete,
    path = "/api/v1/tenants/{id}/oncall-schedules/{schedule_id}",
    tag = "notifications",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The tenant's id"), ("schedule_id" = Uuid, Path, description = "The schedule's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 409, response = crate::openapi::responses::Conflict),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn delete_schedule(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((tenant, schedule)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let tenant_id = configurable(&state, &caller, &tenant)?;
    let schedule_id = schedule_id(&schedule)?;
    let command = EscalationSetupCommand::DeleteSchedule {
        schedule_id,
        actor: caller.actor()?,
    };
    execute(&state, &caller, &headers, tenant_id, command).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST .../{schedule_id}/overrides`: someone else is on call for a period.
#[utoipa::path(
    post,
    path = "/api/v1/tenants/{id}/oncall-schedules/{schedule_id}/overrides",
    tag = "notifications",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The tenant's id"), ("schedule_id" = Uuid, Path, description = "The schedule's id")),
    request_body(content = OverrideBody, example = json!({"participant": {"name": "Dave", "channel_id": "0190f3c0-0000-7000-8000-0000000000c4"},
        "starts_at": "2026-03-28T12:00:00Z", "ends_at": "2026-03-28T18:00:00Z"})),
    responses(
        (status = 201, description = "The schedule with the override", body = OnCallScheduleView),
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
pub async fn add_override(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((tenant, schedule)): Path<(String, String)>,
    ApiJson(body): ApiJson<OverrideBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let tenant_id = configurable(&state, &caller, &tenant)?;
    let schedule_id = schedule_id(&schedule)?;
    let channels = load_channels(&state, tenant_id).await?;
    let participant = participant(&body.participant, &channels, "participant")?;
    let spec =
        OverrideSpec::new(participant, body.starts_at, body.ends_at).map_err(invalid_spec)?;
    let override_id = OverrideId::new_v7();
    let command = EscalationSetupCommand::AddOverride {
        schedule_id,
        override_id,
        spec,
        actor: caller.actor()?,
    };
    execute(&state, &caller, &headers, tenant_id, command).await?;
    let mut view = schedule_view_of(&state, tenant_id, schedule_id).await?;
    view["override_id"] = json!(override_id);
    Ok((StatusCode::CREATED, Json(view)))
}

/// `DELETE .../{schedule_id}/overrides/{override_id}`.
#[utoipa::path(
    delete,
    path = "/api/v1/tenants/{id}/oncall-schedules/{schedule_id}/overrides/{override_id}",
    tag = "notifications",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The tenant's id"), ("schedule_id" = Uuid, Path, description = "The schedule's id"),
           ("override_id" = Uuid, Path, description = "The override's id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 409, response = crate::openapi::responses::Conflict),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn remove_override(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((tenant, schedule, raw_override)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    let tenant_id = configurable(&state, &caller, &tenant)?;
    let schedule_id = schedule_id(&schedule)?;
    let override_id = OverrideId::parse(&raw_override)
        .map_err(|_| ApiError::not_found("override_not_found", "no such override"))?;
    let command = EscalationSetupCommand::RemoveOverride {
        schedule_id,
        override_id,
        actor: caller.actor()?,
    };
    execute(&state, &caller, &headers, tenant_id, command).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/oncall?tenant=&at=`: who is on call in each schedule.
#[utoipa::path(
    get,
    path = "/api/v1/oncall",
    tag = "notifications",
    security(("bearer_jwt" = [])),
    params(OnCallQuery),
    responses(
        (status = 200, description = "Per schedule: who is on call at `at`, since and until when", body = OnCallAnswer),
        (status = 400, response = crate::openapi::responses::BadRequest),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 422, response = crate::openapi::responses::Unprocessable),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn who_is_on_call(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<OnCallQuery>,
) -> Result<Json<Value>, ApiError> {
    let at = match query.at.as_deref() {
        None => state.services().now(),
        Some(raw) => DateTime::parse_from_rfc3339(raw)
            .map(|at| at.with_timezone(&Utc))
            .map_err(|_| {
                ApiError::invalid_value(
                    "at",
                    "`at` must be an RFC 3339 time (e.g. 2026-03-29T07:30:00Z)",
                )
            })?,
    };
    let tenants: Vec<TenantId> = match caller.readable_tenants(query.tenant.as_deref())? {
        Some(ids) => ids.into_iter().map(TenantId::from_uuid).collect(),
        None => state
            .directory()
            .tenants()
            .into_iter()
            .map(|(id, _)| id)
            .collect(),
    };
    let mut items = Vec::new();
    for tenant_id in tenants {
        let setup = load_setup(&state, tenant_id).await?;
        for (schedule_id, record) in setup.schedules() {
            let on_call = record.spec.on_call(&record.overrides, at);
            items.push(json!({
                "tenant_id": tenant_id,
                "schedule_id": schedule_id,
                "schedule_name": record.spec.name(),
                "participant": on_call.as_ref().map(|o| json!({"name": o.participant.name, "channel_id": o.participant.channel_id})),
                "channel_id": on_call.as_ref().map(|o| o.participant.channel_id),
                "since": on_call.as_ref().map(|o| o.since),
                "until": on_call.as_ref().map(|o| o.until),
                "override_id": on_call.as_ref().and_then(|o| o.override_id),
            }));
        }
    }
    Ok(Json(
        json!({ "at": at, "items": items, "next_cursor": null }),
    ))
}

/// Runs a command on the tenant's set-up.
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

/// Reads a schedule body; 422 naming the first bad field.
fn schedule_spec(
    body: &ScheduleBody,
    channels: &NotificationSetup,
    now: DateTime<Utc>,
) -> Result<ScheduleSpec, ApiError> {
    let handoff =
        Handoff::parse(&body.rotation.handoff, "rotation.handoff").map_err(invalid_spec)?;
    let start_date = match body.rotation.start_date.as_deref() {
        Some(raw) => NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d").map_err(|_| {
            ApiError::invalid_value(
                "rotation.start_date",
                "`rotation.start_date` must be a date, YYYY-MM-DD",
            )
        })?,
        None => local_date(&body.timezone, now).unwrap_or_else(|| now.date_naive()),
    };
    let mut participants = Vec::with_capacity(body.participants.len());
    for (index, raw) in body.participants.iter().enumerate() {
        participants.push(participant(
            raw,
            channels,
            &format!("participants[{index}]"),
        )?);
    }
    ScheduleSpec::new(ScheduleFields {
        name: body.name.clone(),
        timezone: body.timezone.clone(),
        rotation: RotationFields {
            handoff,
            handoff_time: body.rotation.handoff_time.clone(),
            start_date,
        },
        participants,
    })
    .map_err(invalid_spec)
}

fn participant(
    raw: &ParticipantBody,
    channels: &NotificationSetup,
    field: &str,
) -> Result<Participant, ApiError> {
    let channel_id = channel_of(channels, &format!("{field}.channel_id"), &raw.channel_id)?;
    Participant::new(&raw.name, channel_id, field).map_err(invalid_spec)
}

fn schedule_id(raw: &str) -> Result<ScheduleId, ApiError> {
    ScheduleId::parse(raw).map_err(|_| schedule_not_found())
}

async fn schedule_view_of(
    state: &AppState,
    tenant_id: TenantId,
    schedule_id: ScheduleId,
) -> Result<Value, ApiError> {
    let setup = load_setup(state, tenant_id).await?;
    let record = setup.schedule(schedule_id).ok_or_else(schedule_not_found)?;
    Ok(schedule_view(tenant_id, schedule_id, record))
}

fn schedule_view(tenant_id: TenantId, schedule_id: ScheduleId, record: &ScheduleRecord) -> Value {
    let fields = record.spec.fields();
    let overrides: Vec<Value> = record
        .overrides
        .iter()
        .map(|(id, period)| {
            json!({
                "id": id, "override_id": id, "participant": period.participant,
                "starts_at": period.starts_at, "ends_at": period.ends_at,
            })
        })
        .collect();
    json!({
        "id": schedule_id,
        "schedule_id": schedule_id,
        "tenant_id": tenant_id,
        "name": fields.name,
        "timezone": fields.timezone,
        "rotation": fields.rotation,
        "participants": fields.participants,
        "overrides": overrides,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
    })
}
