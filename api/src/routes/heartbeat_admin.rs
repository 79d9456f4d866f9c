//! Heartbeats managed by tenant admins (a user's JWT, the tenant named by
//! `?tenant=` unless the caller has exactly one): pause and resume
//! (`PATCH /api/v1/heartbeats/{name}` `{"paused": bool}`) and delete
//! (`DELETE /api/v1/heartbeats/{name}`). Beats keep using the tenant API key
//! (`heartbeats::beat`).
//!
//! Each change is a Heartbeat event (`HeartbeatPaused`, `HeartbeatResumed`,
//! `HeartbeatDeleted`) written in one transaction with the heartbeat's row,
//! under the row lock the heartbeat checker decides under, so a miss and a
//! pause or deletion never cross. Deleting a missed heartbeat resolves the
//! open alerts of its miss (as a recovery would) in the same transaction.

use alertledger_domain::alert::{Alert, AlertCommand};
use alertledger_domain::heartbeat::{
    alert_fingerprint, Heartbeat, HeartbeatCommand, HeartbeatName,
};
use alertledger_domain::values::{AlertId, DeliveryKey, HeartbeatId, TenantId};
use alertledger_eventstore::queries;
use alertledger_eventstore::store::EventMetadata;
use alertledger_eventstore::unit_of_work::{Loaded, UnitOfWork};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use sqlx::PgConnection;
use uuid::Uuid;

use super::heartbeats::{concurrent, invalid, HeartbeatRow, COLUMNS};
use crate::auth::{Action, Caller, TenantScope};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery};
use crate::state::AppState;

/// Most open alerts one deletion resolves (as a recovery does).
const MAX_OPEN_ALERTS: i64 = 100;

/// The heartbeat's tenant.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TenantQuery {
    /// The heartbeat's tenant (required unless the caller has exactly one).
    tenant: Option<String>,
}

/// The body of `PATCH /api/v1/heartbeats/{name}`. Read as a JSON value so
/// that a wrong one is 422 naming the field.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HeartbeatPatch {
    /// `true`: raise no miss until resumed; `false`: expect beats again (the
    /// next one is due a timeout from now).
    #[schema(value_type = bool)]
    paused: Option<Value>,
}

/// `PATCH /api/v1/heartbeats/{name}?tenant=` `{"paused": true|false}`:
/// pauses or resumes the heartbeat (tenant admins and up); the heartbeat as
/// it stands. Pausing a paused heartbeat records nothing.
#[utoipa::path(
    patch,
    path = "/api/v1/heartbeats/{name}",
    tag = "heartbeats",
    security(("bearer_jwt" = [])),
    params(("name" = String, Path, description = "The heartbeat's name"), TenantQuery),
    request_body(content = HeartbeatPatch),
    responses(
        (status = 200, description = "The heartbeat as it stands", body = crate::openapi::schemas::HeartbeatView),
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
pub async fn change_heartbeat(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(name): Path<String>,
    ApiQuery(query): ApiQuery<TenantQuery>,
    ApiJson(body): ApiJson<HeartbeatPatch>,
) -> Result<Json<Value>, ApiError> {
    let tenant = managed_tenant(&caller, query.tenant.as_deref())?;
    let paused = match body.paused {
        Some(Value::Bool(paused)) => paused,
        None | Some(Value::Null) => {
            return Err(ApiError::invalid_value("paused", "`paused` is required"))
        }
        Some(_) => {
            return Err(ApiError::invalid_value(
                "paused",
                "`paused` must be true or false",
            ))
        }
    };
    let name = HeartbeatName::parse(&name).map_err(|_| heartbeat_not_found())?;
    let actor = caller.actor()?;
    let metadata = caller.event_metadata(&headers);
    let database = |error: sqlx::Error| ApiError::database(&error);
    let mut tx = state.pool().begin().await.map_err(database)?;
    let row = locked_row(&mut tx, tenant, &name).await?;
    let heartbeat_id = HeartbeatId::from_uuid(row.heartbeat_id);
    let command = if paused {
        HeartbeatCommand::Pause { actor }
    } else {
        HeartbeatCommand::Resume { actor }
    };
    let mut work = UnitOfWork::default();
    let mut heartbeat = load::<Heartbeat>(&work, &mut tx, &heartbeat_id.to_string()).await?;
    let recorded = work
        .execute(
            &heartbeat_id.to_string(),
            &mut heartbeat,
            command,
            state.services(),
            &metadata,
        )
        .await
        .map_err(|error| ApiError::internal(&error))?;
    written(work.write(&mut tx).await)?;
    // Resumed: the next beat is due a timeout from now, not from the last
    // beat before the pause (which would be a miss at once).
    let row: HeartbeatRow = sqlx::query_as(&format!(
        "UPDATE heartbeats SET paused = $2,
                deadline = CASE WHEN paused AND NOT $2
                                THEN $3 + make_interval(secs => timeout_seconds)
                                ELSE deadline END
          WHERE heartbeat_id = $1
        RETURNING {COLUMNS}"
    ))
    .bind(heartbeat_id.as_uuid())
    .bind(paused)
    .bind(state.services().now())
    .fetch_one(&mut *tx)
    .await
    .map_err(database)?;
    tx.commit().await.map_err(database)?;
    if !recorded.is_empty() {
        // Wakes the log's followers (feed, audit) at once.
        state.people().appended();
        tracing::info!(%tenant, heartbeat = %name, paused, "heartbeat paused or resumed");
    }
    Ok(Json(row.to_json()))
}

/// `DELETE /api/v1/heartbeats/{name}?tenant=`: forgets the heartbeat
/// (tenant admins and up). If it was missed, the open alerts of its miss
/// are resolved with it (`resolved_alerts`). A later beat registers it anew.
#[utoipa::path(
    delete,
    path = "/api/v1/heartbeats/{name}",
    tag = "heartbeats",
    security(("bearer_jwt" = [])),
    params(("name" = String, Path, description = "The heartbeat's name"), TenantQuery),
    responses(
        (status = 200, description = "Deleted: `{id, heartbeat_id, tenant_id, name, deleted: true, resolved_alerts}`", body = crate::openapi::schemas::HeartbeatDeleted),
        (status = 400, response = crate::openapi::responses::BadRequest),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 409, response = crate::openapi::responses::Conflict),
        (status = 422, response = crate::openapi::responses::Unprocessable),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn delete_heartbeat(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(name): Path<String>,
    ApiQuery(query): ApiQuery<TenantQuery>,
) -> Result<Json<Value>, ApiError> {
    let tenant = managed_tenant(&caller, query.tenant.as_deref())?;
    let name = HeartbeatName::parse(&name).map_err(|_| heartbeat_not_found())?;
    let actor = caller.actor()?;
    let metadata = caller.event_metadata(&headers);
    let now = state.services().now();
    let database = |error: sqlx::Error| ApiError::database(&error);
    let mut tx = state.pool().begin().await.map_err(database)?;
    let row = locked_row(&mut tx, tenant, &name).await?;
    let heartbeat_id = HeartbeatId::from_uuid(row.heartbeat_id);
    let mut work = UnitOfWork::default();
    // The open alerts of its miss are resolved as a recovery resolves them:
    // by the source, as of now, under one delivery key.
    let fingerprint = alert_fingerprint(heartbeat_id).map_err(invalid)?;
    let open = queries::open_alerts_with_fingerprint(
        &mut *tx,
        *tenant.as_uuid(),
        fingerprint.as_str(),
        None,
        MAX_OPEN_ALERTS,
    )
    .await
    .map_err(database)?;
    let delivery_key = DeliveryKey::parse(&format!(
        "heartbeat:{name}:deleted:{}",
        now.timestamp_micros()
    ))
    .map_err(invalid)?;
    let mut resolved = Vec::with_capacity(open.len());
    for alert_id in open {
        let mut alert = load::<Alert>(&work, &mut tx, &alert_id).await?;
        let metadata = EventMetadata {
            delivery_key: Some(delivery_key.as_str().to_owned()),
            correlation_id: Some(alert_id.clone()),
            ..metadata.clone()
        };
        work.execute(
            &alert_id,
            &mut alert,
            AlertCommand::ResolveAlertFromSource {
                resolved_at: now,
                delivery_key: Some(delivery_key.clone()),
            },
            state.services(),
            &metadata,
        )
        .await
        .map_err(|error| ApiError::internal(&error))?;
        let id = Uuid::try_parse(&alert_id).map_err(|error| ApiError::internal(&error))?;
        resolved.push(AlertId::from_uuid(id));
    }
    let mut heartbeat = load::<Heartbeat>(&work, &mut tx, &heartbeat_id.to_string()).await?;
    work.execute(
        &heartbeat_id.to_string(),
        &mut heartbeat,
        HeartbeatCommand::Delete {
            actor,
            resolved_alerts: resolved.clone(),
        },
        state.services(),
        &metadata,
    )
    .await
    .map_err(|error| ApiError::internal(&error))?;
    written(work.write(&mut tx).await)?;
    sqlx::query("DELETE FROM heartbeats WHERE heartbeat_id = $1")
        .bind(heartbeat_id.as_uuid())
        .execute(&mut *tx)
        .await
        .map_err(database)?;
    tx.commit().await.map_err(database)?;
    state.people().appended();
    tracing::info!(%tenant, heartbeat = %name, resolved = resolved.len(), "heartbeat deleted");
    Ok(Json(json!({
        "id": heartbeat_id,
        "heartbeat_id": heartbeat_id,
        "tenant_id": tenant,
        "name": name,
        "deleted": true,
        "resolved_alerts": resolved,
    })))
}

/// The tenant whose heartbeat the caller manages: `?tenant=`, or the
/// caller's only tenant; 404 for one it cannot see, 403 below tenant admin.
fn managed_tenant(caller: &Caller, raw: Option<&str>) -> Result<TenantId, ApiError> {
    let tenant = match (raw, &caller.scope) {
        (Some(raw), _) => TenantId::parse(raw).map_err(|_| {
            ApiError::invalid_value("tenant", "`tenant` must be a tenant id (UUID)")
        })?,
        (None, TenantScope::Only(tenants)) if tenants.len() == 1 => tenants[0],
        (None, _) => {
            return Err(ApiError::invalid_value(
                "tenant",
                "`tenant` is required: name the heartbeat's tenant",
            ))
        }
    };
    caller.authorize(Action::Configure, &tenant)?;
    Ok(tenant)
}

/// The heartbeat's row, locked until the transaction ends.
async fn locked_row(
    conn: &mut PgConnection,
    tenant: TenantId,
    name: &HeartbeatName,
) -> Result<HeartbeatRow, ApiError> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM heartbeats WHERE tenant_id = $1 AND name = $2 FOR UPDATE"
    ))
    .bind(tenant.as_uuid())
    .bind(name.as_str())
    .fetch_optional(conn)
    .await
    .map_err(|error| ApiError::database(&error))?
    .ok_or_else(heartbeat_not_found)
}

async fn load<A: cqrs_es::Aggregate + Default>(
    work: &UnitOfWork,
    conn: &mut PgConnection,
    id: &str,
) -> Result<Loaded<A>, ApiError> {
    Ok(work
        .load::<A>(conn, &[id.to_owned()])
        .await
        .map_err(|error| ApiError::internal(&error))?
        .remove(id)
        .unwrap_or_default())
}

/// A commit that met a concurrent one on an aggregate's sequence is 409.
fn written(result: Result<usize, sqlx::Error>) -> Result<(), ApiError> {
    result.map(|_| ()).map_err(|error| {
        if error
            .as_database_error()
            .is_some_and(|db| db.is_unique_violation())
        {
            concurrent()
        } else {
            ApiError::database(&error)
        }
    })
}

fn heartbeat_not_found() -> ApiError {
    ApiError::not_found("heartbeat_not_found", "no such heartbeat")
}
