//! `GET /api/v1/incidents`, `GET /api/v1/incidents/{id}` and
//! `GET /api/v1/incidents/{id}/alerts`: the incidents read model with its
//! timeline and its alerts (the detail carries the first alert ids, the
//! alerts route pages them all), scoped to the tenants the caller may read.

use alertledger_domain::incident::IncidentStatus;
use alertledger_domain::values::{Severity, UserId};
use alertledger_projections::incidents::{
    self, AlertOrder, IncidentAlert, IncidentAlerts, IncidentQuery, IncidentRow, IncidentSort,
    TimelineRow,
};
use alertledger_projections::page::Page;
use axum::extract::{Path, State};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::list_params;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::resource::WithId;
use crate::state::AppState;

/// Query string of `GET /api/v1/incidents` (all optional, parsed by hand so
/// an invalid value is a 422 naming its field).
#[derive(Debug, Deserialize)]
pub struct IncidentsQuery {
    status: Option<String>,
    severity: Option<String>,
    sort: Option<String>,
    tenant: Option<String>,
    assignee: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

/// `?assignee=`: a user id as the assign route records it, or `me` for the
/// caller (the dashboard's "assigned to me").
fn parse_assignee(caller: &Caller, raw: &str) -> Result<String, ApiError> {
    if raw == "me" {
        return Ok(caller.user_id.clone());
    }
    UserId::parse(raw)
        .map(|id| id.as_str().to_owned())
        .map_err(|error| list_params::invalid("assignee", &error))
}

/// `GET /api/v1/incidents?status=&severity=&assignee=&sort=priority&tenant=&limit=&cursor=`:
/// newest opened first, or by priority score with `sort=priority`.
#[tracing::instrument(name = "list_incidents", skip_all, fields(user = %caller.user_id))]
#[utoipa::path(
    get,
    path = "/api/v1/incidents",
    tag = "incidents",
    security(("bearer_jwt" = [])),
    params(("status" = Option<String>, Query, description = "`new`, `acknowledged`, `in_progress`, `escalated` or `resolved`"), ("severity" = Option<String>, Query, description = "`critical`, `high`, `medium` or `low`"), ("assignee" = Option<String>, Query, description = "Only incidents assigned to this user id; `me`: to the caller"), ("sort" = Option<String>, Query, description = "`newest` (default) or `priority`"), ("tenant" = Option<Uuid>, Query, description = "Only this tenant (default: every tenant the caller may read)"), ("limit" = Option<u32>, Query, minimum = 1, maximum = 500, description = "Page size (default 50)"), ("cursor" = Option<String>, Query, description = "The `next_cursor` of the previous page")),
    responses(
        (status = 200, description = "Incidents. Items omit the detail's `alert_ids`, `resolved_alert_ids` and `timeline`.", body = crate::openapi::schemas::Page<crate::openapi::schemas::Incident>),
        (status = 400, response = crate::openapi::responses::BadRequest),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 422, response = crate::openapi::responses::Unprocessable),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn list_incidents(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<IncidentsQuery>,
) -> Result<Json<Page<WithId<IncidentRow>>>, ApiError> {
    let query = IncidentQuery {
        tenants: caller.readable_tenants(query.tenant.as_deref())?,
        status: query.status.as_deref().map(parse_status).transpose()?,
        severity: query
            .severity
            .as_deref()
            .map(Severity::parse)
            .transpose()
            .map_err(|error| list_params::invalid("severity", &error))?,
        assignee: query
            .assignee
            .as_deref()
            .map(|raw| parse_assignee(&caller, raw))
            .transpose()?,
        sort: parse_sort(query.sort.as_deref())?,
        limit: list_params::limit(query.limit.as_deref())?,
        cursor: query.cursor,
    };
    let page = incidents::list(state.pool(), &query)
        .await
        .map_err(list_params::query_error)?;
    Ok(Json(page.map(|row| WithId::new(row.incident_id, row))))
}

/// An incident with its alerts and its timeline.
#[derive(Debug, Serialize)]
pub struct IncidentDetail {
    id: Uuid,
    #[serde(flatten)]
    incident: IncidentRow,
    #[serde(flatten)]
    alerts: IncidentAlerts,
    timeline: Vec<TimelineEntry>,
}

/// One event of an incident, as the detail shows it.
#[derive(Debug, Serialize)]
pub struct TimelineEntry {
    position: i64,
    at: DateTime<Utc>,
    event_type: String,
    actor: Option<String>,
    summary: String,
    /// The correlator's recorded reason, on the events that carry one.
    correlation_reason: Option<serde_json::Value>,
    details: serde_json::Value,
}

impl From<TimelineRow> for TimelineEntry {
    fn from(row: TimelineRow) -> Self {
        Self {
            correlation_reason: row.correlation_reason().cloned(),
            position: row.position,
            at: row.at,
            event_type: row.event_type,
            actor: row.actor,
            summary: row.summary,
            details: row.details,
        }
    }
}

/// `GET /api/v1/incidents/{id}`: the incident with its first `alert_ids`
/// (and `resolved_alert_ids`; `alert_count` and the `*_next_cursor` tell
/// whether more follow at `/alerts`), `priority_score`, `tool_sources` and
/// its `timeline` in order; 404 for an unknown id and for another tenant's.
#[tracing::instrument(name = "show_incident", skip_all, fields(user = %caller.user_id, incident_id = %id))]
#[utoipa::path(
    get,
    path = "/api/v1/incidents/{id}",
    tag = "incidents",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The incident's id")),
    responses(
        (status = 200, description = "The incident with its first 100 `alert_ids` and `resolved_alert_ids` (the rest: `GET /api/v1/incidents/{id}/alerts?cursor=` with the `*_next_cursor`) and its `timeline`", body = crate::openapi::schemas::IncidentDetail),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn show_incident(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<IncidentDetail>, ApiError> {
    let incident = readable_incident(&state, &caller, &id).await?;
    let incident_id = incident.incident_id;
    let alerts = incidents::alert_ids(state.pool(), incident_id)
        .await
        .map_err(list_params::query_error)?;
    let timeline = incidents::timeline(state.pool(), incident_id)
        .await?
        .into_iter()
        .map(TimelineEntry::from)
        .collect();
    Ok(Json(IncidentDetail {
        id: incident.incident_id,
        incident,
        alerts,
        timeline,
    }))
}

/// The incident `id` if the caller may read it; 404 for an unknown id, a
/// malformed one and another tenant's alike.
async fn readable_incident(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<IncidentRow, ApiError> {
    let not_found = || ApiError::not_found("incident_not_found", "no such incident");
    let incident_id = Uuid::try_parse(id).map_err(|_| not_found())?;
    incidents::find(state.pool(), incident_id)
        .await?
        .filter(|incident| caller.may_read(&incident.tenant_id.into()))
        .ok_or_else(not_found)
}

/// Query string of `GET /api/v1/incidents/{id}/alerts` (all optional).
#[derive(Debug, Deserialize)]
pub struct IncidentAlertsQuery {
    resolved: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

/// `GET /api/v1/incidents/{id}/alerts?resolved=&limit=&cursor=`: every alert
/// of the incident in attach order (`resolved=true`: those resolved at their
/// source, in the order they were resolved), a page at a time.
#[tracing::instrument(name = "list_incident_alerts", skip_all, fields(user = %caller.user_id, incident_id = %id))]
#[utoipa::path(
    get,
    path = "/api/v1/incidents/{id}/alerts",
    tag = "incidents",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The incident's id"), ("resolved" = Option<bool>, Query, description = "Only the alerts resolved at their source, in the order they were resolved (default: every attached alert, in attach order)"), ("limit" = Option<u32>, Query, description = "Items per page (1..=500, default 50)"), ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page, or the detail's `alert_ids_next_cursor` / `resolved_alert_ids_next_cursor`")),
    responses(
        (status = 200, description = "The incident's alerts", body = crate::openapi::schemas::Page<crate::openapi::schemas::IncidentAlert>),
        (status = 400, response = crate::openapi::responses::BadRequest),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 422, response = crate::openapi::responses::Unprocessable),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn list_incident_alerts(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<IncidentAlertsQuery>,
) -> Result<Json<Page<WithId<IncidentAlert>>>, ApiError> {
    let order = match query.resolved.as_deref().map(str::trim) {
        None | Some("false") => AlertOrder::Attached,
        Some("true") => AlertOrder::Resolved,
        Some(_) => {
            return Err(ApiError::invalid_value(
                "resolved",
                "`resolved` must be true or false",
            ))
        }
    };
    let limit = list_params::limit(query.limit.as_deref())?;
    let incident = readable_incident(&state, &caller, &id).await?;
    let page = incidents::alerts_page(
        state.pool(),
        incident.incident_id,
        order,
        query.cursor.as_deref(),
        limit,
    )
    .await
    .map_err(list_params::query_error)?;
    Ok(Json(page.map(|alert| WithId::new(alert.alert_id, alert))))
}

/// `?status=`: the API spellings of [`IncidentStatus`].
fn parse_status(raw: &str) -> Result<IncidentStatus, ApiError> {
    const ALL: [IncidentStatus; 5] = [
        IncidentStatus::New,
        IncidentStatus::Acknowledged,
        IncidentStatus::InProgress,
        IncidentStatus::Escalated,
        IncidentStatus::Resolved,
    ];
    let wanted = raw.trim();
    ALL.into_iter()
        .find(|status| status.as_str().eq_ignore_ascii_case(wanted))
        .ok_or_else(|| {
            let accepted: Vec<&str> = ALL.iter().map(IncidentStatus::as_str).collect();
            ApiError::invalid_value(
                "status",
                format!("invalid `status`: must be one of {}", accepted.join(", ")),
            )
        })
}

/// `?sort=`: `priority`, or `newest` (the default).
fn parse_sort(raw: Option<&str>) -> Result<IncidentSort, ApiError> {
    match raw.map(str::trim) {
        None | Some("") | Some("newest") => Ok(IncidentSort::Newest),
        Some("priority") => Ok(IncidentSort::Priority),
        Some(_) => Err(ApiError::invalid_value(
            "sort",
            "invalid `sort`: must be priority or newest",
        )),
    }
}
