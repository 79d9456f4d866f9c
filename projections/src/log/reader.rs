//! Batch reads of the global log in log order.

use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};
use uuid::Uuid;

use super::cursor::LogCursor;
use super::xid8::Xid8;

/// One committed event as the log presents it.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEvent {
    pub position: i64,
    pub transaction_id: u64,
    pub recorded_at: DateTime<Utc>,
    pub tenant_id: Uuid,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    pub payload: serde_json::Value,
    pub metadata: serde_json::Value,
}

impl LogEvent {
    /// The cursor just after this event.
    pub fn cursor(&self) -> LogCursor {
        LogCursor::new(self.transaction_id, self.position)
    }
}

/// Which events a reader wants; `None` means all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogFilter {
    pub tenants: Option<Vec<Uuid>>,
    pub event_types: Option<Vec<String>>,
}

impl LogFilter {
    /// Every event of every tenant.
    pub fn all() -> Self {
        Self::default()
    }

    /// Every event of these tenants.
    pub fn tenants(tenants: Vec<Uuid>) -> Self {
        Self {
            tenants: Some(tenants),
            event_types: None,
        }
    }

    /// Whether `event` passes this filter (for filtering in memory what was read
    /// unfiltered, e.g. by a shared tailer).
    pub fn matches(&self, event: &LogEvent) -> bool {
        self.tenants
            .as_ref()
            .is_none_or(|tenants| tenants.contains(&event.tenant_id))
            && self
                .event_types
                .as_ref()
                .is_none_or(|types| types.contains(&event.event_type))
    }
}

/// The result of one read: the events, and where the next read starts.
///
/// `next` can be past the last event returned: when fewer than `limit` events
/// matched, everything below the horizon has been read, filtered or not, and the
/// next read need not scan it again.
#[derive(Debug, Clone, PartialEq)]
pub struct LogBatch {
    pub events: Vec<LogEvent>,
    pub next: LogCursor,
}

/// Reads the global log. Cheap to clone.
#[derive(Debug, Clone)]
pub struct LogReader {
    pool: PgPool,
}

const SELECT_COLUMNS: &str = "h.xmin, e.position, e.transaction_id, e.recorded_at, e.tenant_id, \
     e.aggregate_type, e.aggregate_id, e.sequence, e.event_type, e.event_version, e.payload, e.metadata";

impl LogReader {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Up to `limit` events after `after` in log order, all from finished
    /// transactions, so that no later read can return anything before them.
    pub async fn read(
        &self,
        after: LogCursor,
        limit: usize,
        filter: &LogFilter,
    ) -> Result<LogBatch, sqlx::Error> {
        let limit = i64::try_from(limit.max(1)).unwrap_or(i64::MAX);
        let sql = read_sql(filter);
        let mut query = sqlx::query(&sql)
            .bind(after.xid8())
            .bind(after.position())
            .bind(limit);
        if let Some(tenants) = &filter.tenants {
            query = query.bind(tenants);
        }
        if let Some(types) = &filter.event_types {
            query = query.bind(types);
        }
        let rows = query.fetch_all(&self.pool).await?;

        let mut horizon = Xid8::default();
        let mut events = Vec::with_capacity(rows.len());
        for row in &rows {
            horizon = row.try_get(0)?;
            if let Some(event) = decode_event(row)? {
                events.push(event);
            }
        }
        let next = match events.last() {
            Some(last) if events.len() as i64 >= limit => last.cursor(),
            // Fewer than asked for: everything below the horizon has been seen.
            _ => LogCursor::before_transaction(horizon.0).max(after),
        };
        Ok(LogBatch { events, next })
    }

    /// The cursor just after the event at `position`, or `None` if no event has
    /// that position.
    pub async fn cursor_after_position(
        &self,
        position: i64,
    ) -> Result<Option<LogCursor>, sqlx::Error> {
        if position == 0 {
            return Ok(Some(LogCursor::START));
        }
        let transaction: Option<Xid8> =
            sqlx::query_scalar("SELECT transaction_id FROM events WHERE position = $1")
                .bind(position)
                .fetch_optional(&self.pool)
                .await?;
        Ok(transaction.map(|xid| LogCursor::new(xid.0, position)))
    }

    /// The tenant of the event at `position`, if there is one.
    pub async fn tenant_of_position(&self, position: i64) -> Result<Option<Uuid>, sqlx::Error> {
        sqlx::query_scalar("SELECT tenant_id FROM events WHERE position = $1")
            .bind(position)
            .fetch_optional(&self.pool)
            .await
    }

    /// The cursor a reader that has read everything readable now would hold:
    /// just below the oldest transaction still running.
    pub async fn head(&self) -> Result<LogCursor, sqlx::Error> {
        let horizon: Xid8 = sqlx::query_scalar("SELECT pg_snapshot_xmin(pg_current_snapshot())")
            .fetch_one(&self.pool)
            .await?;
        Ok(LogCursor::before_transaction(horizon.0))
    }
}

fn read_sql(filter: &LogFilter) -> String {
    let mut conditions = String::new();
    let mut next_param = 4;
    if filter.tenants.is_some() {
        conditions.push_str(&format!(" AND tenant_id = ANY(${next_param})"));
        next_param += 1;
    }
    if filter.event_types.is_some() {
        conditions.push_str(&format!(" AND event_type = ANY(${next_param})"));
    }
    format!(
        "SELECT {SELECT_COLUMNS}
           FROM (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin) h
           LEFT JOIN LATERAL (
               SELECT * FROM events
                WHERE (transaction_id, position) > ($1, $2)
                  AND transaction_id < h.xmin{conditions}
                ORDER BY transaction_id, position
                LIMIT $3
           ) e ON true"
    )
}

fn decode_event(row: &PgRow) -> Result<Option<LogEvent>, sqlx::Error> {
    let Some(position) = row.try_get::<Option<i64>, _>(1)? else {
        return Ok(None);
    };
    let transaction_id: Xid8 = row.try_get(2)?;
    Ok(Some(LogEvent {
        position,
        transaction_id: transaction_id.0,
        recorded_at: row.try_get(3)?,
        tenant_id: row.try_get(4)?,
        aggregate_type: row.try_get(5)?,
        aggregate_id: row.try_get(6)?,
        sequence: row.try_get(7)?,
        event_type: row.try_get(8)?,
        event_version: row.try_get(9)?,
        payload: row.try_get(10)?,
        metadata: row.try_get(11)?,
    }))
}
