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

/// The database answers, every migration this binary knows is applied, no
/// worker of this process raised an alarm, and no log consumer is stopped on an event it cannot apply (503 naming the
/// consumer, position and error otherwise).
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    security(()),
    responses(
        (status = 200, description = "Ready: every consumer applying the log", body = crate::openapi::schemas::Ready),
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
    // A consumer stopped on an event it cannot apply leaves its read model
    // (or worker) behind for every tenant until an operator acts: the service
    // cannot do its job, so it is unready and says where and why (H1).
    let stalled: Vec<Value> = projectors
        .iter()
        .filter(|projector| !projector["last_error"].is_null())
        .map(|projector| {
            json!({
                "consumer": projector["name"],
                "position": projector["failed_position"],
                "error": projector["last_error"],
            })
        })
        .collect();
    if !stalled.is_empty() {
        let message = stalled
            .iter()
            .map(|s| {
                format!(
                    "consumer {} stopped at position {}: {}",
                    s["consumer"].as_str().unwrap_or_default(),
                    s["position"],
                    s["error"].as_str().unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        return Err(ApiError::unavailable(format!(
            "{message} (see `alertledger projections quarantine`)"
        ))
        .with_details(json!({ "stalled_consumers": stalled, "projectors": projectors })));
    }
    Ok((
        StatusCode::OK,
        Json(json!({
            "status": "ready",
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
