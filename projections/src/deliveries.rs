//! Refused webhook deliveries, read straight from the log: each is one
//! `DeliveryRejected` event, and a partial index on `events` (migration 0016)
//! holds only those, so `GET /api/v1/deliveries?status=rejected` needs no
//! read model of its own and a refusal costs one event to keep.

use alertledger_domain::delivery::DeliveryEvent;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use super::page::{bounded, decode_cursor, fetch_limit, Page, QueryError, DEFAULT_LIMIT};

/// One refused delivery as the API lists it (the event's fields, plus where
/// it sits in the log).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RejectedDeliveryRow {
    pub delivery_id: Uuid,
    pub tenant_id: Uuid,
    pub source: String,
    pub status: u16,
    pub code: String,
    pub reason: String,
    pub field: Option<String>,
    pub body_sha256: String,
    pub body_bytes: u64,
    pub body_excerpt: String,
    /// API.md's name for the same excerpt (`body_excerpt` stays beside it).
    #[serde(default)]
    pub excerpt: String,
    pub request_id: Option<String>,
    pub key_id: Uuid,
    /// When it was refused.
    pub at: DateTime<Utc>,
    /// The event's position in the global log.
    pub position: i64,
}

/// What the list asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct RejectedQuery {
    /// The tenants to list (`None`: every tenant, for an MSP admin).
    pub tenants: Option<Vec<Uuid>>,
    pub source: Option<String>,
    pub limit: usize,
    pub cursor: Option<String>,
}

impl Default for RejectedQuery {
    fn default() -> Self {
        Self {
            tenants: None,
            source: None,
            limit: DEFAULT_LIMIT,
            cursor: None,
        }
    }
}

/// One page of refused deliveries, newest first.
pub async fn list_rejected(
    pool: &PgPool,
    query: &RejectedQuery,
) -> Result<Page<RejectedDeliveryRow>, QueryError> {
    let after: Option<i64> = query.cursor.as_deref().map(decode_cursor).transpose()?;
    let limit = bounded(query.limit);
    let mut sql = QueryBuilder::<Postgres>::new(
        "SELECT (e.payload -> 'DeliveryRejected')
                || jsonb_build_object('position', e.position,
                                      'excerpt', e.payload -> 'DeliveryRejected' -> 'body_excerpt')
           FROM events e WHERE e.event_type = ",
    );
    sql.push_bind(DeliveryEvent::REJECTED);
    if let Some(tenants) = &query.tenants {
        sql.push(" AND e.tenant_id = ANY(")
            .push_bind(tenants.clone())
            .push(")");
    }
    if let Some(source) = &query.source {
        sql.push(" AND e.payload -> 'DeliveryRejected' ->> 'source' = ")
            .push_bind(source.clone());
    }
    if let Some(position) = after {
        sql.push(" AND e.position < ").push_bind(position);
    }
    sql.push(" ORDER BY e.position DESC LIMIT ")
        .push_bind(fetch_limit(limit));
    let rows: Vec<sqlx::types::Json<RejectedDeliveryRow>> =
        sql.build_query_scalar().fetch_all(pool).await?;
    let rows = rows.into_iter().map(|row| row.0).collect();
    Ok(Page::from_rows(rows, limit, |row: &RejectedDeliveryRow| {
        row.position
    }))
}
