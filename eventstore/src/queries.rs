//! Reads of stored events other than the log: looking an aggregate's events
//! up by what their payload says. They live here, beside the table they
//! read, so that no other crate writes SQL against the events' JSON.

use alertledger_domain::alert::AlertEvent;
use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use sqlx::PgPool;
use uuid::Uuid;

/// Position of the latest event of aggregate `A` `id`, if it has any.
pub async fn last_position<A: Aggregate>(
    pool: &PgPool,
    id: &str,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT position FROM events WHERE aggregate_type = $1 AND aggregate_id = $2
          ORDER BY sequence DESC LIMIT 1",
    )
    .bind(A::TYPE)
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// The tenant's alerts received firing with `fingerprint` and not yet
/// resolved by their source, newest first, at most `limit`; with `began_by`,
/// only those whose `occurred_at` is no later. Uses the partial index
/// `events_alert_fingerprint_idx` (migration 0004), whose expression names
/// the `AlertReceived` payload key: the SQL spells it as that index does.
pub async fn open_alerts_with_fingerprint<'e>(
    pool: impl sqlx::PgExecutor<'e>,
    tenant_id: Uuid,
    fingerprint: &str,
    began_by: Option<DateTime<Utc>>,
    limit: i64,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(&OPEN_ALERTS_SQL)
        .bind(tenant_id)
        .bind(fingerprint)
        .bind(began_by)
        .bind(limit)
        .fetch_all(pool)
        .await
}

/// Built once from the event type names (an index expression must match the
/// query's text, so the names are spliced in, not bound).
static OPEN_ALERTS_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let received = AlertEvent::RECEIVED;
    let resolved = AlertEvent::RESOLVED_BY_SOURCE;
    format!(
        "SELECT r.aggregate_id FROM events r
          WHERE r.tenant_id = $1 AND r.event_type = '{received}'
            AND r.payload -> '{received}' ->> 'fingerprint' = $2
            AND r.payload -> '{received}' ->> 'status' = 'firing'
            AND ($3::timestamptz IS NULL
                 OR (r.payload -> '{received}' ->> 'occurred_at')::timestamptz <= $3)
            AND NOT EXISTS (SELECT 1 FROM events x
                             WHERE x.aggregate_type = r.aggregate_type AND x.aggregate_id = r.aggregate_id
                               AND x.event_type = '{resolved}')
          ORDER BY r.position DESC
          LIMIT $4"
    )
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_open_alerts_query_names_the_indexed_payload_key() {
        assert!(OPEN_ALERTS_SQL.contains("r.payload -> 'AlertReceived' ->> 'fingerprint'"));
        assert!(OPEN_ALERTS_SQL.contains("x.event_type = 'AlertResolvedBySource'"));
    }
}
