//! `GET /healthz` (the process answers) and `GET /readyz` (it can do its job).

use alertledger_eventstore::consumer::status::statuses;
use alertledger_eventstore::consumer::Checkpoint;
use alertledger_schema::MIGRATOR;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::state::AppState;

/// The process is up.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    security(()),
    responses(
        (status = 200, description = "The process is up", body = crate::openapi::schemas::Health)
    )
)]
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// The database answers, every migration this binary knows is applied, and
/// no worker of this process raised an alarm.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    security(()),
    responses(
        (status = 200, description = "Ready (or `degraded`: a projector stopped)", body = crate::openapi::schemas::Ready),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn readyz(State(state): State<AppState>) -> Result<(StatusCode, Json<Value>), ApiError> {
    let applied: Option<i64> =
        sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(state.pool())
            .await
            .map_err(|error| {
                tracing::warn!(%error, "readiness check could not query the database");
                ApiError::unavailable("the database is unreachable")
            })?;
    let expected = MIGRATOR.iter().map(|m| m.version).max();
    if applied < expected {
        return Err(ApiError::unavailable(
            "database migrations are not applied; run `alertledger migrate`",
        )
        .with_details(json!({ "applied": applied, "expected": expected })));
    }
    // A worker that stopped on purpose (the checkpointer finding the seal
    // rewritten) makes the service unready: its guarantees no longer hold.
    let alarms = state.alarms().raised();
    if let Some(first) = alarms.first() {
        return Err(ApiError::unavailable(format!(
            "the {} stopped: {}",
            first.component, first.message
        ))
        .with_details(json!({
            "alarms": alarms
                .iter()
                .map(|alarm| json!({
                    "component": alarm.component,
                    "message": alarm.message,
                    "since": alarm.since,
                }))
                .collect::<Vec<_>>(),
        })));
    }
    let head = state.log().head().await?;
    let projectors = projector_report(&state).await?;
    // A stopped projector leaves its read model stale, but the service still
    // accepts alerts and commands: degraded, not unready.
    let degraded = projectors
        .iter()
        .any(|projector| !projector["failed_position"].is_null());
    Ok((
        StatusCode::OK,
        Json(json!({
            "status": if degraded { "degraded" } else { "ready" },
            "database": "ok",
            "migrations": { "applied": applied },
            "log": { "readable_below_transaction": head.transaction_id() },
            "projectors": projectors,
        })),
    ))
}

/// Position and lag of every projector and worker that has a checkpoint.
async fn projector_report(state: &AppState) -> Result<Vec<Value>, ApiError> {
    let stored = Checkpoint::all(state.pool())
        .await
        .map_err(|error| ApiError::database(&error))?;
    let names: Vec<&str> = stored.iter().map(|c| c.name.as_str()).collect();
    let statuses = statuses(state.pool(), &names)
        .await
        .map_err(|error| ApiError::database(&error))?;
    Ok(statuses
        .into_iter()
        .map(|status| {
            json!({
                "name": status.name,
                "position": status.position,
                "lag_events": status.lag_events,
                "lag_seconds": status.lag_seconds,
                "failed_position": status.failed_position,
                "last_error": status.last_error,
            })
        })
        .collect())
}
