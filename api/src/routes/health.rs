//! `GET /healthz` (the process answers) and `GET /readyz` (it can do its job).

use alertledger_schema::MIGRATOR;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::state::AppState;

/// The process is up.
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// The database answers and every migration this binary knows is applied.
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
    let head = state.log().head().await?;
    Ok((
        StatusCode::OK,
        Json(json!({
            "status": "ready",
            "database": "ok",
            "migrations": { "applied": applied },
            "log": { "readable_below_transaction": head.transaction_id() },
        })),
    ))
}
