//! Heartbeats (issue 19): `POST /api/v1/heartbeats/{name}` from a source
//! that is expected to keep beating (a tenant API key, through the same key,
//! rate-limit and signing checks as webhooks) and `GET /api/v1/heartbeats`.
//!
//! A beat is NOT an event: the last beat is operational state in the
//! `heartbeats` table, and a beat of a known heartbeat with unchanged
//! settings is one UPDATE of its row. A first beat records
//! `HeartbeatRegistered`, a beat with other settings `HeartbeatChanged`,
//! each in the same transaction as the row. Missed and recovered are
//! decided by the heartbeat checker (a worker) from the same table.

use std::collections::BTreeMap;

use alertledger_domain::heartbeat::{
    Heartbeat, HeartbeatCommand, HeartbeatError, HeartbeatName, HeartbeatSettings,
};
use alertledger_domain::values::{AssetName, HeartbeatId, Labels, Severity, TenantId};
use alertledger_eventstore::store::EventMetadata;
use alertledger_eventstore::unit_of_work::UnitOfWork;
use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use sqlx::types::Json as SqlJson;
use sqlx::PgConnection;
use uuid::Uuid;

use super::webhooks::{
    key_owner, request_id, verify_signature_if_needed, within_rate_limit, Inbound, Progress,
    WebhookQuery,
};
use crate::auth::api_key::presented_api_key;
use crate::auth::Caller;
use crate::edge::ClientIp;
use crate::error::ApiError;
use crate::extract::{optional_json, ApiQuery};
use crate::state::AppState;
use crate::tenant_directory::KeyOwner;

/// Largest beat body (settings only: a small object).
pub const HEARTBEAT_BODY_LIMIT: usize = 64 * 1024;

/// Most heartbeats one page lists.
const MAX_LIMIT: usize = 500;

/// The optional body of a beat. Fields are read as JSON values so that a
/// wrong one is 422 naming it, not a generic parse error.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct BeatBody {
    /// Seconds the next beat may take (5..=604800; default 300 at
    /// registration, then unchanged unless sent).
    #[schema(value_type = Option<u32>)]
    timeout_seconds: Option<Value>,
    /// The asset of the alert a miss raises (default: the heartbeat's name).
    #[schema(value_type = Option<String>)]
    asset: Option<Value>,
    /// Labels of the alert a miss raises.
    #[schema(value_type = Option<Object>)]
    labels: Option<Value>,
    /// The severity of the alert a miss raises: `critical`, `high`, `medium`
    /// or `low` (default `high` at registration, then unchanged unless sent).
    #[schema(value_type = Option<String>)]
    severity: Option<Value>,
}

/// What a beat asks to change; `None`: keep what is recorded.
#[derive(Debug, Default)]
struct Requested {
    timeout_seconds: Option<u32>,
    asset: Option<AssetName>,
    labels: Option<Labels>,
    severity: Option<Severity>,
}

impl BeatBody {
    fn parse(self) -> Result<Requested, ApiError> {
        let timeout_seconds = match self.timeout_seconds {
            None | Some(Value::Null) => None,
            Some(value) => {
                let seconds = value
                    .as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| {
                        ApiError::invalid_value(
                            "timeout_seconds",
                            "`timeout_seconds` must be a whole number of seconds",
                        )
                    })?;
                // The range is the settings' own rule.
                HeartbeatSettings::new(seconds, None, Labels::default()).map_err(invalid)?;
                Some(seconds)
            }
        };
        let asset = match self.asset {
            None | Some(Value::Null) => None,
            Some(Value::String(raw)) => Some(AssetName::parse(&raw).map_err(|error| {
                ApiError::invalid_value("asset", format!("`asset` {}", error.problem()))
            })?),
            Some(_) => return Err(ApiError::invalid_value("asset", "`asset` must be a string")),
        };
        let labels = match self.labels {
            None | Some(Value::Null) => None,
            Some(Value::Object(entries)) => {
                let mut map = BTreeMap::new();
                for (key, value) in entries {
                    let Value::String(text) = value else {
                        return Err(ApiError::invalid_value(
                            format!("labels.{key}"),
                            "label values must be strings",
                        ));
                    };
                    map.insert(key, text);
                }
                Some(
                    Labels::new(map)
                        .map_err(|error| ApiError::invalid_value("labels", error.to_string()))?,
                )
            }
            Some(_) => {
                return Err(ApiError::invalid_value(
                    "labels",
                    "`labels` must be an object of strings",
                ))
            }
        };
        let severity = match self.severity {
            None | Some(Value::Null) => None,
            Some(Value::String(raw)) => Some(Severity::parse(&raw).map_err(|error| {
                ApiError::invalid_value("severity", format!("`severity` {}", error.problem()))
            })?),
            Some(_) => {
                return Err(ApiError::invalid_value(
                    "severity",
                    "`severity` must be one of critical, high, medium, low",
                ))
            }
        };
        Ok(Requested {
            timeout_seconds,
            asset,
            labels,
            severity,
        })
    }
}

/// One heartbeat as stored.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct HeartbeatRow {
    pub(crate) heartbeat_id: Uuid,
    tenant_id: Uuid,
    name: String,
    timeout_seconds: i32,
    asset: Option<String>,
    labels: SqlJson<BTreeMap<String, String>>,
    registered_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
    deadline: DateTime<Utc>,
    status: String,
    missed_alert_id: Option<Uuid>,
    status_changed_at: Option<DateTime<Utc>>,
    severity: String,
    paused: bool,
}

pub(crate) const COLUMNS: &str = "heartbeat_id, tenant_id, name, timeout_seconds, asset, labels, \
                       registered_at, last_seen_at, deadline, status, missed_alert_id, \
                       status_changed_at, severity, paused";

impl HeartbeatRow {
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "id": self.heartbeat_id,
            "heartbeat_id": self.heartbeat_id,
            "tenant_id": self.tenant_id,
            "name": self.name,
            "status": self.status,
            "last_seen_at": self.last_seen_at,
            "timeout_seconds": self.timeout_seconds,
            "deadline": self.deadline,
            "asset": self.asset,
            "labels": self.labels.0,
            "registered_at": self.registered_at,
            "missed_alert_id": self.missed_alert_id,
            "status_changed_at": self.status_changed_at,
            "severity": self.severity,
            "paused": self.paused,
        })
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/heartbeats/{name}",
    tag = "heartbeats",
    security(("api_key_bearer" = []), ("api_key_header" = []), ("api_key_query" = [])),
    params(("name" = String, Path, description = "The heartbeat's name: 1 to 128 of letters, digits, `.`, `_`, `-`")),
    request_body(content = BeatBody, description = "Optional: the heartbeat's settings (omitted ones keep their recorded value)", content_type = "application/json"),
    responses(
        (status = 202, description = "The beat is recorded: the heartbeat as it stands", body = crate::openapi::schemas::HeartbeatView),
        (status = 400, response = crate::openapi::responses::BadRequest),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 409, response = crate::openapi::responses::Conflict),
        (status = 413, response = crate::openapi::responses::PayloadTooLarge),
        (status = 415, response = crate::openapi::responses::UnsupportedMediaType),
        (status = 422, response = crate::openapi::responses::Unprocessable),
        (status = 429, response = crate::openapi::responses::TooManyRequests),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn beat(
    State(state): State<AppState>,
    Path(name): Path<String>,
    ApiQuery(query): ApiQuery<WebhookQuery>,
    client_ip: ClientIp,
    headers: HeaderMap,
    // Last: the body is read only once the key is known and within its limit.
    request: Request,
) -> Response {
    let inbound = Inbound {
        source: "heartbeat",
        api_key: presented_api_key(&headers, query.api_key.as_deref()),
        client_ip: &client_ip,
        headers: &headers,
    };
    match receive_beat(&state, &inbound, &name, request).await {
        Ok(row) => (StatusCode::ACCEPTED, Json(row.to_json())).into_response(),
        Err(error) => error.into_response(),
    }
}

async fn receive_beat(
    state: &AppState,
    inbound: &Inbound<'_>,
    name: &str,
    request: Request,
) -> Result<HeartbeatRow, ApiError> {
    // The same checks as a webhook, in the same order: key, rate limit,
    // then the body (media type, size, signature).
    let mut progress = Progress::default();
    let owner = key_owner(state, inbound, &mut progress)?;
    within_rate_limit(state, owner)?;
    let name = HeartbeatName::parse(name).map_err(invalid)?;
    let body = Bytes::from_request(request, state)
        .await
        .map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    format!("the body exceeds {HEARTBEAT_BODY_LIMIT} bytes"),
                )
            } else {
                ApiError::bad_request("unreadable_body", rejection.body_text())
            }
        })?;
    let empty = body.iter().all(u8::is_ascii_whitespace);
    if !empty && !is_json(inbound.headers) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "expected Content-Type: application/json (or no body)",
        ));
    }
    verify_signature_if_needed(state, owner.tenant_id, inbound.headers, &body).await?;
    let requested = optional_json::<BeatBody>(&body)?.parse()?;
    let now = state.services().now();
    if let Some(row) = touch(state, owner.tenant_id, &name, &requested, now).await? {
        return Ok(row);
    }
    // Unknown, or other settings: events with the row, in one transaction.
    // Two first beats at once meet on the heartbeat's aggregate sequence:
    // the later one is retried and then finds the row.
    for attempt in 0..2 {
        match register_or_change(state, inbound, owner, &name, &requested, now).await {
            Err(error) if attempt == 0 && error.status() == StatusCode::CONFLICT => continue,
            other => return other,
        }
    }
    Err(concurrent())
}

/// The one write of a beat of a known heartbeat whose settings it does not
/// change: `last_seen_at` and the deadline. `None`: not such a beat.
async fn touch(
    state: &AppState,
    tenant_id: TenantId,
    name: &HeartbeatName,
    requested: &Requested,
    now: DateTime<Utc>,
) -> Result<Option<HeartbeatRow>, ApiError> {
    let row = sqlx::query_as::<_, HeartbeatRow>(&format!(
        "UPDATE heartbeats SET last_seen_at = $3,
                deadline = $3 + make_interval(secs => timeout_seconds)
          WHERE tenant_id = $1 AND name = $2
            AND ($4::integer IS NULL OR timeout_seconds = $4)
            AND ($5::text IS NULL OR asset IS NOT DISTINCT FROM $5)
            AND ($6::jsonb IS NULL OR labels = $6)
            AND ($7::text IS NULL OR severity = $7)
        RETURNING {COLUMNS}"
    ))
    .bind(tenant_id.as_uuid())
    .bind(name.as_str())
    .bind(now)
    .bind(requested.timeout_seconds.map(timeout_column))
    .bind(requested.asset.as_ref().map(AssetName::as_str))
    .bind(
        requested
            .labels
            .as_ref()
            .map(|labels| SqlJson(labels.as_map())),
    )
    .bind(requested.severity.map(|severity| severity.as_str()))
    .fetch_optional(state.pool())
    .await
    .map_err(|error| ApiError::database(&error))?;
    Ok(row)
}

/// Registers the heartbeat, or records its new settings, with this beat.
async fn register_or_change(
    state: &AppState,
    inbound: &Inbound<'_>,
    owner: KeyOwner,
    name: &HeartbeatName,
    requested: &Requested,
    now: DateTime<Utc>,
) -> Result<HeartbeatRow, ApiError> {
    let database = |error: sqlx::Error| ApiError::database(&error);
    let mut tx = state.pool().begin().await.map_err(database)?;
    let existing: Option<HeartbeatRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM heartbeats WHERE tenant_id = $1 AND name = $2 FOR UPDATE"
    ))
    .bind(owner.tenant_id.as_uuid())
    .bind(name.as_str())
    .fetch_optional(&mut *tx)
    .await
    .map_err(database)?;
    let heartbeat_id = HeartbeatId::for_name(&owner.tenant_id, name.as_str());
    let severity = match (&requested.severity, &existing) {
        (Some(severity), _) => *severity,
        (None, Some(row)) => Severity::parse(&row.severity).map_err(invalid)?,
        (None, None) => HeartbeatSettings::DEFAULT_SEVERITY,
    };
    let settings = match &existing {
        None => HeartbeatSettings::new(
            requested
                .timeout_seconds
                .unwrap_or(HeartbeatSettings::DEFAULT_TIMEOUT_SECONDS),
            requested.asset.clone(),
            requested.labels.clone().unwrap_or_default(),
        ),
        Some(row) => HeartbeatSettings::new(
            requested
                .timeout_seconds
                .unwrap_or_else(|| u32::try_from(row.timeout_seconds).unwrap_or_default()),
            match &requested.asset {
                Some(asset) => Some(asset.clone()),
                None => row
                    .asset
                    .as_deref()
                    .map(AssetName::parse)
                    .transpose()
                    .map_err(invalid)?,
            },
            match &requested.labels {
                Some(labels) => labels.clone(),
                None => Labels::new(row.labels.0.clone()).map_err(invalid)?,
            },
        ),
    }
    .map_err(invalid)?
    .with_severity(severity);
    let command = match &existing {
        None => HeartbeatCommand::Register {
            tenant_id: owner.tenant_id,
            heartbeat_id,
            name: name.clone(),
            settings: settings.clone(),
        },
        Some(_) => HeartbeatCommand::ChangeSettings {
            settings: settings.clone(),
        },
    };
    let metadata = EventMetadata {
        actor: Some(format!("api_key:{}", owner.key_id)),
        request_id: request_id(inbound.headers),
        source_ip: inbound.client_ip.0.map(|ip| ip.to_string()),
        correlation_id: Some(heartbeat_id.to_string()),
        ..EventMetadata::default()
    };
    let recorded = record(&mut tx, heartbeat_id, command, state, &metadata).await?;
    let row: HeartbeatRow = sqlx::query_as(&format!(
        "INSERT INTO heartbeats (heartbeat_id, tenant_id, name, timeout_seconds, asset, labels,
                                 registered_at, last_seen_at, deadline, severity)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $7 + make_interval(secs => $4), $8)
         ON CONFLICT (heartbeat_id) DO UPDATE
            SET timeout_seconds = EXCLUDED.timeout_seconds, asset = EXCLUDED.asset,
                labels = EXCLUDED.labels, last_seen_at = EXCLUDED.last_seen_at,
                deadline = EXCLUDED.deadline, severity = EXCLUDED.severity
         RETURNING {COLUMNS}"
    ))
    .bind(heartbeat_id.as_uuid())
    .bind(owner.tenant_id.as_uuid())
    .bind(name.as_str())
    .bind(timeout_column(settings.timeout_seconds))
    .bind(settings.asset.as_ref().map(AssetName::as_str))
    .bind(SqlJson(settings.labels.as_map()))
    .bind(now)
    .bind(settings.severity.as_str())
    .fetch_one(&mut *tx)
    .await
    .map_err(database)?;
    tx.commit().await.map_err(database)?;
    if recorded {
        // Wakes the log's followers (feed, correlator) at once.
        state.people().appended();
        tracing::info!(tenant_id = %owner.tenant_id, heartbeat = %name, "heartbeat registered or changed");
    }
    Ok(row)
}

/// Runs `command` on the heartbeat inside `conn`'s transaction; whether it
/// recorded an event.
async fn record(
    conn: &mut PgConnection,
    heartbeat_id: HeartbeatId,
    command: HeartbeatCommand,
    state: &AppState,
    metadata: &EventMetadata,
) -> Result<bool, ApiError> {
    let mut work = UnitOfWork::default();
    let key = heartbeat_id.to_string();
    let mut loaded = work
        .load::<Heartbeat>(conn, std::slice::from_ref(&key))
        .await
        .map_err(|error| ApiError::internal(&error))?
        .remove(&key)
        .unwrap_or_default();
    let events = match work
        .execute(&key, &mut loaded, command, state.services(), metadata)
        .await
    {
        Ok(events) => events,
        // Registered by a concurrent first beat after this one looked.
        Err(HeartbeatError::AlreadyRegistered) => return Err(concurrent()),
        Err(error) => return Err(ApiError::internal(&error)),
    };
    work.write(conn).await.map_err(|error| {
        if error
            .as_database_error()
            .is_some_and(|db| db.is_unique_violation())
        {
            concurrent()
        } else {
            ApiError::database(&error)
        }
    })?;
    Ok(!events.is_empty())
}

pub(crate) fn concurrent() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "concurrent_change",
        "the heartbeat was changed at the same moment; try again",
    )
}

/// `GET /api/v1/heartbeats` filters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    /// Only this tenant.
    tenant: Option<String>,
    /// `ok` or `missed`.
    status: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

/// `GET /api/v1/heartbeats?tenant=&status=&limit=&cursor=`: the heartbeats
/// of the tenants the caller may read, by name.
#[utoipa::path(
    get,
    path = "/api/v1/heartbeats",
    tag = "heartbeats",
    security(("bearer_jwt" = [])),
    params(ListQuery),
    responses(
        (status = 200, description = "Heartbeats: `{items, next_cursor}`", body = crate::openapi::schemas::HeartbeatList),
        (status = 400, response = crate::openapi::responses::BadRequest),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 422, response = crate::openapi::responses::Unprocessable),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn list_heartbeats(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let tenants = caller.readable_tenants(query.tenant.as_deref())?;
    let status = match query.status.as_deref() {
        None => None,
        Some(raw @ ("ok" | "missed")) => Some(raw.to_owned()),
        Some(_) => {
            return Err(ApiError::invalid_value(
                "status",
                "`status` must be ok or missed",
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
    // The cursor is the last (name, id) of the previous page.
    let after: Option<(String, Uuid)> = query
        .cursor
        .as_deref()
        .map(|raw| {
            raw.rsplit_once('/')
                .and_then(|(name, id)| Some((name.to_owned(), Uuid::try_parse(id).ok()?)))
                .ok_or_else(|| ApiError::invalid_value("cursor", "unknown cursor"))
        })
        .transpose()?;
    let rows: Vec<HeartbeatRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM heartbeats
          WHERE ($1::uuid[] IS NULL OR tenant_id = ANY($1))
            AND ($2::text IS NULL OR status = $2)
            AND ($3::text IS NULL OR (name, heartbeat_id) > ($3, $4))
          ORDER BY name, heartbeat_id LIMIT $5"
    ))
    .bind(tenants)
    .bind(status)
    .bind(after.as_ref().map(|(name, _)| name.clone()))
    .bind(after.as_ref().map(|(_, id)| *id))
    .bind(i64::try_from(limit + 1).unwrap_or(i64::MAX))
    .fetch_all(state.pool())
    .await
    .map_err(|error| ApiError::database(&error))?;
    let next_cursor = (rows.len() > limit).then(|| {
        let last = &rows[limit - 1];
        format!("{}/{}", last.name, last.heartbeat_id)
    });
    let items: Vec<Value> = rows.iter().take(limit).map(HeartbeatRow::to_json).collect();
    Ok(Json(json!({ "items": items, "next_cursor": next_cursor })))
}

pub(crate) fn invalid(error: alertledger_domain::values::ValueError) -> ApiError {
    ApiError::invalid_value(error.field(), error.to_string())
}

/// Timeouts are at most a week, so they fit the integer column.
fn timeout_column(seconds: u32) -> i32 {
    i32::try_from(seconds).unwrap_or(i32::MAX)
}

fn is_json(headers: &HeaderMap) -> bool {
    let essence = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json" || essence.ends_with("+json")
}
