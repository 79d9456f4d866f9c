//! Maintenance windows (API.md "Maintenance, silences, heartbeats"): define,
//! list (`?active=true`, `?at=`), show, change and delete a tenant's windows.
//!
//! Every change is a `MaintenanceWindow` event naming its actor; changing
//! windows is configuration (tenant admins and MSP admins). Windows are read
//! from their events (a tenant has few), and the number of alerts each held
//! back from the alerts read model. A silence (`POST /incidents/{id}/silence`)
//! is a one-off window whose matchers are the incident's key, recorded on
//! the incident too (`IncidentSilenced`).

use std::collections::{BTreeMap, HashMap};

use alertledger_domain::incident::IncidentCommand;
use alertledger_domain::maintenance::schedule;
use alertledger_domain::maintenance::{
    MaintenanceWindow, MaintenanceWindowCommand, MaintenanceWindowError, MaintenanceWindowEvent,
    Matcher, Schedule, SpecFields, WindowSpec,
};
use alertledger_domain::values::{Actor, IncidentId, Note, TenantId, WindowId};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use chrono::{DateTime, Utc};
use cqrs_es::{Aggregate, AggregateError};
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use super::operate::{execute_with_retries, store_failure};
use crate::auth::{Action, Caller};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery};
use crate::state::AppState;

/// Most windows one list answers per page.
const MAX_LIMIT: usize = 500;

/// The body of `POST /api/v1/maintenance-windows`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    tenant_id: String,
    #[serde(flatten)]
    window: WindowBody,
}

/// What a window says, as sent (`PUT` sends it alone).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct WindowBody {
    name: String,
    /// RFC 3339; a one-off window's start (a recurring one's earliest start).
    starts_at: Option<String>,
    /// RFC 3339; a one-off window's end (a recurring one's latest end).
    ends_at: Option<String>,
    schedule: Option<ScheduleBody>,
    /// Alertmanager matchers, e.g. `asset="srv-db-01"`, `severity=~"high|critical"`.
    matchers: Vec<String>,
}

/// A recurrence: exactly one of `cron` and `rrule`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleBody {
    cron: Option<String>,
    rrule: Option<String>,
    duration_minutes: u32,
    /// IANA zone, e.g. `Europe/Berlin`.
    timezone: String,
}

fn instant(field: &'static str, raw: Option<&str>) -> Result<Option<DateTime<Utc>>, ApiError> {
    raw.map(|raw| {
        DateTime::parse_from_rfc3339(raw)
            .map(|at| at.with_timezone(&Utc))
            .map_err(|_| {
                ApiError::invalid_value(field, format!("`{field}` must be an RFC 3339 timestamp"))
            })
    })
    .transpose()
}

impl WindowBody {
    /// The checked definition; `now` anchors an RRULE without `starts_at`
    /// at local midnight of the day it is defined.
    pub(crate) fn parse(self, now: DateTime<Utc>) -> Result<WindowSpec, ApiError> {
        let starts_at = instant("starts_at", self.starts_at.as_deref())?;
        let ends_at = instant("ends_at", self.ends_at.as_deref())?;
        let schedule = self
            .schedule
            .map(|s| {
                let anchor =
                    starts_at.unwrap_or_else(|| schedule::local_midnight(&s.timezone, now));
                Schedule::parse(
                    s.cron.as_deref(),
                    s.rrule.as_deref(),
                    s.duration_minutes,
                    &s.timezone,
                    anchor,
                )
                .map_err(|e| ApiError::invalid_value(e.field, e.problem))
            })
            .transpose()?;
        let matchers = self
            .matchers
            .iter()
            .enumerate()
            .map(|(i, raw)| {
                Matcher::parse(raw)
                    .map_err(|e| ApiError::invalid_value(format!("matchers[{i}]"), e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        WindowSpec::new(SpecFields {
            name: self.name,
            starts_at,
            ends_at,
            schedule,
            matchers,
            silenced_incident: None,
        })
        .map_err(|e| ApiError::invalid_value(e.field, e.problem))
    }
}

/// `POST /api/v1/maintenance-windows`: defines a window for a tenant (201).
#[utoipa::path(
    post,
    path = "/api/v1/maintenance-windows",
    tag = "maintenance",
    security(("bearer_jwt" = [])),
    request_body(content = CreateBody),
    responses(
        (status = 201, description = "The window", body = Object),
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
pub async fn create_window(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreateBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let tenant_id = TenantId::parse(&body.tenant_id).map_err(|_| {
        ApiError::invalid_value("tenant_id", "`tenant_id` must be a tenant id (UUID)")
    })?;
    caller.authorize(Action::Configure, &tenant_id)?;
    let spec = body.window.parse(state.services().now())?;
    let (window_id, window) =
        create(&state, tenant_id, spec, caller.actor()?, &caller, &headers).await?;
    let counts = suppressed_counts(&state, &[window_id.into()]).await?;
    Ok((
        StatusCode::CREATED,
        Json(window_json(
            window_id,
            &window,
            state.services().now(),
            &counts,
        )),
    ))
}

/// Records a new window; shared with silences made from an incident.
pub(crate) async fn create(
    state: &AppState,
    tenant_id: TenantId,
    spec: WindowSpec,
    actor: Actor,
    caller: &Caller,
    headers: &HeaderMap,
) -> Result<(WindowId, MaintenanceWindow), ApiError> {
    let window_id = WindowId::new_v7();
    let id = window_id.to_string();
    execute_with_retries(
        state.windows(),
        &id,
        MaintenanceWindowCommand::CreateWindow {
            window_id,
            tenant_id,
            spec,
            actor,
        },
        caller.event_metadata(headers),
    )
    .await
    .map_err(window_error)?;
    let window = state.windows().load(&id).await.map_err(window_error)?;
    Ok((window_id, window))
}

/// `GET /api/v1/maintenance-windows` filters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only this tenant.
    tenant: Option<String>,
    /// `true`: only windows in force (at `at`, default now); `false`: only others.
    active: Option<String>,
    /// RFC 3339: the instant `active` refers to (alone, it means `active=true`).
    at: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

/// `GET /api/v1/maintenance-windows?tenant=&active=&at=&limit=&cursor=`:
/// the tenant's windows (not deleted), oldest first.
#[utoipa::path(
    get,
    path = "/api/v1/maintenance-windows",
    tag = "maintenance",
    security(("bearer_jwt" = [])),
    params(ListQuery),
    responses(
        (status = 200, description = "Windows: `{items, next_cursor}`", body = Object),
        (status = 400, response = crate::openapi::responses::BadRequest),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 422, response = crate::openapi::responses::Unprocessable),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn list_windows(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let tenants = caller.readable_tenants(query.tenant.as_deref())?;
    let at = instant("at", query.at.as_deref())?;
    let active = match query.active.as_deref() {
        None => at.map(|_| true),
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => {
            return Err(ApiError::invalid_value(
                "active",
                "`active` must be true or false",
            ))
        }
    };
    let limit = match query.limit.as_deref() {
        None => 50,
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| ApiError::invalid_value("limit", "`limit` must be 1 to 500"))?,
    };
    let after = query
        .cursor
        .as_deref()
        .map(|raw| {
            Uuid::try_parse(raw).map_err(|_| ApiError::invalid_value("cursor", "unknown cursor"))
        })
        .transpose()?;
    let now = state.services().now();
    let at = at.unwrap_or(now);
    let mut windows: Vec<(Uuid, MaintenanceWindow)> = load_windows(&state, tenants.as_deref())
        .await?
        .into_iter()
        .filter(|(id, window)| {
            !window.is_deleted()
                && after.is_none_or(|after| *id > after)
                && active.is_none_or(|wanted| {
                    let in_force = window
                        .spec()
                        .is_some_and(|spec| spec.occurrence_at(at).is_some());
                    in_force == wanted
                })
        })
        .collect();
    let next_cursor = (windows.len() > limit).then(|| windows[limit - 1].0.to_string());
    windows.truncate(limit);
    let ids: Vec<Uuid> = windows.iter().map(|(id, _)| *id).collect();
    let counts = suppressed_counts(&state, &ids).await?;
    let items: Vec<Value> = windows
        .iter()
        .map(|(id, window)| window_json(WindowId::from_uuid(*id), window, at, &counts))
        .collect();
    Ok(Json(json!({ "items": items, "next_cursor": next_cursor })))
}

/// `GET /api/v1/maintenance-windows/{id}`.
#[utoipa::path(
    get,
    path = "/api/v1/maintenance-windows/{id}",
    tag = "maintenance",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The window's id")),
    responses(
        (status = 200, description = "The window", body = Object),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn show_window(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (window_id, window) = readable_window(&state, &caller, &id).await?;
    let counts = suppressed_counts(&state, &[window_id.into()]).await?;
    Ok(Json(window_json(
        window_id,
        &window,
        state.services().now(),
        &counts,
    )))
}

/// `PUT /api/v1/maintenance-windows/{id}`: replaces its definition.
#[utoipa::path(
    put,
    path = "/api/v1/maintenance-windows/{id}",
    tag = "maintenance",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The window's id")),
    request_body(content = WindowBody),
    responses(
        (status = 200, description = "The window as changed", body = Object),
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
pub async fn change_window(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<WindowBody>,
) -> Result<Json<Value>, ApiError> {
    let (_, current) = readable_window(&state, &caller, &id).await?;
    let mut spec = body.parse(state.services().now())?;
    // A silence stays tied to its incident.
    if let Some(incident) = current.spec().and_then(|s| s.fields().silenced_incident) {
        let mut fields = spec.fields().clone();
        fields.silenced_incident = Some(incident);
        spec = WindowSpec::new(fields).map_err(|e| ApiError::invalid_value(e.field, e.problem))?;
    }
    configure(&state, &caller, &headers, &id, |actor| {
        MaintenanceWindowCommand::ChangeWindow { spec, actor }
    })
    .await
}

/// `DELETE /api/v1/maintenance-windows/{id}`: deletes it (its history stays;
/// the alerts it held are correlated now).
#[utoipa::path(
    delete,
    path = "/api/v1/maintenance-windows/{id}",
    tag = "maintenance",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The window's id")),
    responses(
        (status = 200, description = "The window, deleted", body = Object),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 409, response = crate::openapi::responses::Conflict),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn delete_window(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    configure(&state, &caller, &headers, &id, |actor| {
        MaintenanceWindowCommand::DeleteWindow { actor }
    })
    .await
}

async fn configure(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    raw_id: &str,
    command: impl FnOnce(Actor) -> MaintenanceWindowCommand,
) -> Result<Json<Value>, ApiError> {
    let (window_id, window) = readable_window(state, caller, raw_id).await?;
    let tenant = window.tenant_id().ok_or_else(window_not_found)?;
    caller.authorize(Action::Configure, &tenant)?;
    let key = window_id.to_string();
    execute_with_retries(
        state.windows(),
        &key,
        command(caller.actor()?),
        caller.event_metadata(headers),
    )
    .await
    .map_err(window_error)?;
    let window = state.windows().load(&key).await.map_err(window_error)?;
    let counts = suppressed_counts(state, &[window_id.into()]).await?;
    Ok(Json(window_json(
        window_id,
        &window,
        state.services().now(),
        &counts,
    )))
}

async fn readable_window(
    state: &AppState,
    caller: &Caller,
    raw: &str,
) -> Result<(WindowId, MaintenanceWindow), ApiError> {
    let window_id = WindowId::parse(raw).map_err(|_| window_not_found())?;
    let window = state
        .windows()
        .load(&window_id.to_string())
        .await
        .map_err(window_error)?;
    match window.tenant_id() {
        Some(tenant) if caller.may_read(&tenant) => Ok((window_id, window)),
        _ => Err(window_not_found()),
    }
}

/// Every window of `tenants` (`None`: all), folded from its definition
/// events: the list shows definitions, so the events a window records over
/// time (one per occurrence boundary) are not read.
async fn load_windows(
    state: &AppState,
    tenants: Option<&[Uuid]>,
) -> Result<Vec<(Uuid, MaintenanceWindow)>, ApiError> {
    let rows: Vec<(String, sqlx::types::Json<MaintenanceWindowEvent>)> = sqlx::query_as(
        "SELECT aggregate_id, payload FROM events
          WHERE aggregate_type = $1 AND ($2::uuid[] IS NULL OR tenant_id = ANY($2))
            AND event_type = ANY($3)
          ORDER BY aggregate_id, sequence",
    )
    .bind(<MaintenanceWindow as Aggregate>::TYPE)
    .bind(tenants)
    .bind(
        &[
            MaintenanceWindowEvent::CREATED,
            MaintenanceWindowEvent::CHANGED,
            MaintenanceWindowEvent::DELETED,
        ][..],
    )
    .fetch_all(state.pool())
    .await
    .map_err(|e| ApiError::database(&e))?;
    let mut windows: BTreeMap<Uuid, MaintenanceWindow> = BTreeMap::new();
    for (id, sqlx::types::Json(event)) in rows {
        let Ok(id) = Uuid::try_parse(&id) else {
            continue;
        };
        windows.entry(id).or_default().apply(event);
    }
    Ok(windows.into_iter().collect())
}

/// How many alerts each window held back, from the alerts read model.
async fn suppressed_counts(
    state: &AppState,
    windows: &[Uuid],
) -> Result<HashMap<Uuid, i64>, ApiError> {
    let rows: Vec<(Uuid, i64)> = sqlx::query_as(
        "SELECT suppressed_by, count(*) FROM alerts
          WHERE suppressed_by = ANY($1) GROUP BY suppressed_by",
    )
    .bind(windows)
    .fetch_all(state.pool())
    .await
    .map_err(|e| ApiError::database(&e))?;
    Ok(rows.into_iter().collect())
}

pub(crate) fn window_json(
    window_id: WindowId,
    window: &MaintenanceWindow,
    at: DateTime<Utc>,
    counts: &HashMap<Uuid, i64>,
) -> Value {
    let spec = window.spec();
    let fields = spec.map(WindowSpec::fields);
    let occurrence = spec.and_then(|s| s.occurrence_at(at));
    json!({
        "id": window_id,
        "window_id": window_id,
        "tenant_id": window.tenant_id(),
        "name": fields.map(|f| f.name.as_str()),
        "starts_at": fields.and_then(|f| f.starts_at),
        "ends_at": fields.and_then(|f| f.ends_at),
        "schedule": fields.and_then(|f| f.schedule.as_ref()),
        "matchers": fields.map(|f| &f.matchers),
        "silenced_incident_id": fields.and_then(|f| f.silenced_incident),
        "deleted": window.is_deleted(),
        "active": !window.is_deleted() && occurrence.is_some(),
        "current_occurrence": occurrence.filter(|_| !window.is_deleted()).map(|o| json!({
            "starts_at": o.starts_at,
            "ends_at": o.ends_at,
        })),
        "suppressed_alerts": counts.get(window_id.as_uuid()).copied().unwrap_or(0),
    })
}

fn window_not_found() -> ApiError {
    ApiError::not_found("window_not_found", "no such maintenance window")
}

fn window_error(error: AggregateError<MaintenanceWindowError>) -> ApiError {
    match error {
        AggregateError::UserError(MaintenanceWindowError::NotCreated) => window_not_found(),
        AggregateError::UserError(rule @ MaintenanceWindowError::Deleted) => {
            ApiError::new(StatusCode::CONFLICT, "window_deleted", rule.to_string())
        }
        AggregateError::UserError(rule) => {
            ApiError::new(StatusCode::CONFLICT, "window_conflict", rule.to_string())
        }
        other => store_failure(other, "maintenance window"),
    }
}

/// Longest silence, in minutes (7 days).
const MAX_SILENCE_MINUTES: u32 = 7 * 24 * 60;

/// The body of `POST /api/v1/incidents/{id}/silence`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SilenceBody {
    /// 1 to 10080.
    duration_minutes: u32,
    reason: Option<String>,
}

/// `POST /api/v1/incidents/{id}/silence` `{"duration_minutes", "reason"?}`:
/// silences the incident's key from now on (201 with the window, whose
/// matchers are the key's fields); the incident records the silence.
/// Anyone who may operate on the incident may silence it.
#[utoipa::path(
    post,
    path = "/api/v1/incidents/{id}/silence",
    tag = "maintenance",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The incident's id")),
    request_body(content = SilenceBody),
    responses(
        (status = 201, description = "The window the silence is", body = Object),
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
pub async fn silence_incident(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<SilenceBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let not_found = || ApiError::not_found("incident_not_found", "no such incident");
    let incident_id = IncidentId::parse(&id).map_err(|_| not_found())?;
    let incident = state
        .incidents()
        .load(&incident_id.to_string())
        .await
        .map_err(|e| store_failure(e, "incident"))?;
    let tenant = incident
        .tenant_id()
        .filter(|tenant| caller.may_read(tenant))
        .ok_or_else(not_found)?;
    caller.authorize(Action::Operate, &tenant)?;
    if body.duration_minutes == 0 || body.duration_minutes > MAX_SILENCE_MINUTES {
        return Err(ApiError::invalid_value(
            "duration_minutes",
            format!("`duration_minutes` must be 1 to {MAX_SILENCE_MINUTES}"),
        ));
    }
    let reason = body
        .reason
        .as_deref()
        .map(|raw| Note::parse(raw).map_err(|e| ApiError::invalid_value("reason", e.to_string())))
        .transpose()?;
    let (Some(key), Some(asset), Some(signature)) =
        (incident.key(), incident.asset(), incident.signature())
    else {
        return Err(not_found());
    };
    // The key's fields under the tenant's template; if the template changed
    // since the incident opened, its asset and signature.
    let policy = state
        .tenants()
        .load(&tenant.to_string())
        .await
        .map_err(|e| store_failure(e, "tenant"))?
        .correlation_policy()
        .clone();
    let fields = policy.aggregation_key().fields_of(key).unwrap_or_else(|| {
        vec![
            ("asset".to_owned(), asset.as_str().to_owned()),
            ("signature".to_owned(), signature.as_str().to_owned()),
        ]
    });
    let matchers = fields
        .iter()
        .map(|(name, value)| Matcher::equal(name, value))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::invalid_value("key", e.to_string()))?;
    let now = state.services().now();
    let until = now + chrono::Duration::minutes(i64::from(body.duration_minutes));
    let spec = WindowSpec::new(SpecFields {
        name: format!("Silence of incident {incident_id}"),
        starts_at: Some(now),
        ends_at: Some(until),
        schedule: None,
        matchers,
        silenced_incident: Some(incident_id),
    })
    .map_err(|e| ApiError::invalid_value(e.field, e.problem))?;
    let actor = caller.actor()?;
    let (window_id, window) =
        create(&state, tenant, spec, actor.clone(), &caller, &headers).await?;
    let until = window
        .spec()
        .and_then(|s| s.fields().ends_at)
        .unwrap_or(until);
    execute_with_retries(
        state.incidents(),
        &incident_id.to_string(),
        IncidentCommand::RecordSilence {
            window_id,
            until,
            reason,
            actor,
        },
        caller.event_metadata(&headers),
    )
    .await
    .map_err(|e| store_failure(e, "incident"))?;
    Ok((
        StatusCode::CREATED,
        Json(window_json(window_id, &window, now, &HashMap::new())),
    ))
}
