//! Position and lag of projectors, for `projections status`, `/readyz` and
//! `/metrics`.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::Checkpoint;

/// One projector's progress.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectorStatus {
    pub name: String,
    /// Position of the last event it applied (0: none yet).
    pub position: i64,
    pub events_applied: i64,
    pub last_event_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    /// Committed events not yet applied (counted up to [`LAG_COUNT_CAP`]).
    pub lag_events: i64,
    /// How long the oldest unapplied event has been waiting (0 when caught up).
    pub lag_seconds: f64,
    /// Where and why it stopped, if it did.
    pub failed_position: Option<i64>,
    pub last_error: Option<String>,
}

/// Lag counts stop here so a status query stays cheap on a far-behind projector.
pub const LAG_COUNT_CAP: i64 = 1_000_000;

/// The status of every projector in `names` (one that never ran shows as at
/// the start of the log).
pub async fn statuses(pool: &PgPool, names: &[&str]) -> Result<Vec<ProjectorStatus>, sqlx::Error> {
    let stored = Checkpoint::all(pool).await?;
    let mut result = Vec::with_capacity(names.len());
    for name in names {
        let checkpoint = stored.iter().find(|c| c.name == *name);
        let cursor = checkpoint.map(|c| c.cursor).unwrap_or_default();
        let (lag_events, lag_seconds): (i64, Option<f64>) = sqlx::query_as(
            "WITH pending AS (
                 SELECT recorded_at FROM events
                  WHERE (transaction_id, position) > ($1, $2)
                    AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
                  ORDER BY transaction_id, position
                  LIMIT $3)
             SELECT count(*),
                    extract(epoch FROM now() - (SELECT recorded_at FROM pending LIMIT 1))::float8
               FROM pending",
        )
        .bind(cursor.xid8())
        .bind(cursor.position())
        .bind(LAG_COUNT_CAP)
        .fetch_one(pool)
        .await?;
        result.push(ProjectorStatus {
            name: (*name).to_owned(),
            position: checkpoint.map_or(0, |c| c.last_position),
            events_applied: checkpoint.map_or(0, |c| c.events_applied),
            last_event_at: checkpoint.and_then(|c| c.last_event_at),
            updated_at: checkpoint.map_or_else(Utc::now, |c| c.updated_at),
            lag_events,
            lag_seconds: lag_seconds.unwrap_or(0.0).max(0.0),
            failed_position: checkpoint.and_then(|c| c.failed_position),
            last_error: checkpoint.and_then(|c| c.last_error.clone()),
        });
    }
    Ok(result)
}
