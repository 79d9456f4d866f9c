//! Which log events an operator quarantined for which consumer, read from
//! the log itself (`ConsumerEventQuarantined` events), never from a table of
//! its own: the live runner and every rebuild derive the same skip list, so a
//! rebuild gives the same read model as the live consumer kept.

use std::collections::BTreeSet;

use alertledger_domain::quarantine::QuarantineEvent;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

/// One quarantined event, as `projections status` lists it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Quarantined {
    pub consumer: String,
    pub position: i64,
    pub event_id: String,
    pub event_type: String,
    pub reason: String,
    /// The actor's user id.
    pub actor: String,
    /// Position of the quarantine event itself.
    pub recorded_position: i64,
    pub recorded_at: DateTime<Utc>,
}

/// The positions quarantined for `consumer`.
pub async fn positions(
    conn: &mut PgConnection,
    consumer: &str,
) -> Result<BTreeSet<i64>, sqlx::Error> {
    // Served by the partial index `events_quarantine_idx` (migration 0020).
    let positions: Vec<i64> = sqlx::query_scalar(
        "SELECT (payload #>> '{ConsumerEventQuarantined,position}')::bigint
           FROM events
          WHERE event_type = $1
            AND payload #>> '{ConsumerEventQuarantined,consumer}' = $2",
    )
    .bind(QuarantineEvent::QUARANTINED)
    .bind(consumer)
    .fetch_all(conn)
    .await?;
    Ok(positions.into_iter().collect())
}

/// Every quarantine recorded, oldest first.
pub async fn all(pool: &PgPool) -> Result<Vec<Quarantined>, sqlx::Error> {
    sqlx::query_as(
        "SELECT payload #>> '{ConsumerEventQuarantined,consumer}' AS consumer,
                (payload #>> '{ConsumerEventQuarantined,position}')::bigint AS position,
                payload #>> '{ConsumerEventQuarantined,event_id}' AS event_id,
                payload #>> '{ConsumerEventQuarantined,event_type}' AS event_type,
                payload #>> '{ConsumerEventQuarantined,reason}' AS reason,
                payload #>> '{ConsumerEventQuarantined,actor,user_id}' AS actor,
                position AS recorded_position, recorded_at
           FROM events
          WHERE event_type = $1
          ORDER BY position",
    )
    .bind(QuarantineEvent::QUARANTINED)
    .fetch_all(pool)
    .await
}
