//! SNS subscription requests, read straight from the log: each is one
//! `SnsSubscriptionRequested` tenant event, and a partial index on `events`
//! (migration 0033) holds only those, so
//! `GET /api/v1/tenants/{id}/sns-subscriptions` needs no read model of its
//! own. A request's status is worked out from its age when listing: AWS
//! honours a confirmation token for three days.

use alertledger_domain::tenant::TenantEvent;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use super::page::{bounded, decode_cursor, fetch_limit, Page, QueryError};

/// How long AWS accepts a subscription's confirmation token (its
/// `Subscribe` documentation: "Confirmation tokens are valid for three days").
pub const CONFIRMATION_VALIDITY: Duration = Duration::days(3);

/// Where a subscription request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionStatus {
    /// Its SubscribeURL can still confirm it.
    Pending,
    /// Older than AWS's token validity: subscribe the endpoint again.
    Expired,
}

impl SubscriptionStatus {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "pending" => Some(Self::Pending),
            "expired" => Some(Self::Expired),
            _ => None,
        }
    }
}

/// The event's fields as stored.
#[derive(Debug, Deserialize)]
struct Stored {
    topic_arn: String,
    subscribe_url: String,
    message_id: String,
    at: DateTime<Utc>,
    position: i64,
}

/// One subscription request as the API lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnsSubscriptionRow {
    pub message_id: String,
    pub topic_arn: String,
    /// Visiting it confirms the subscription; the service never does.
    pub subscribe_url: String,
    pub received_at: DateTime<Utc>,
    pub status: SubscriptionStatus,
    /// When AWS stops honouring the SubscribeURL.
    pub expires_at: DateTime<Utc>,
    /// The event's position in the global log.
    pub position: i64,
}

/// What the list asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionQuery {
    pub tenant: Uuid,
    pub status: Option<SubscriptionStatus>,
    /// The time statuses are worked out at.
    pub now: DateTime<Utc>,
    pub limit: usize,
    pub cursor: Option<String>,
}

/// One page of a tenant's subscription requests, newest first.
pub async fn list(
    pool: &PgPool,
    query: &SubscriptionQuery,
) -> Result<Page<SnsSubscriptionRow>, QueryError> {
    let after: Option<i64> = query.cursor.as_deref().map(decode_cursor).transpose()?;
    let limit = bounded(query.limit);
    let cutoff = query.now - CONFIRMATION_VALIDITY;
    let mut sql = QueryBuilder::<Postgres>::new(
        "SELECT (e.payload -> 'SnsSubscriptionRequested') || jsonb_build_object('position', e.position)
           FROM events e WHERE e.event_type = ",
    );
    sql.push_bind(TenantEvent::SNS_SUBSCRIPTION_REQUESTED)
        .push(" AND e.tenant_id = ")
        .push_bind(query.tenant);
    let at = " (e.payload -> 'SnsSubscriptionRequested' ->> 'at')::timestamptz ";
    match query.status {
        Some(SubscriptionStatus::Pending) => {
            sql.push(format!(" AND{at}> ")).push_bind(cutoff);
        }
        Some(SubscriptionStatus::Expired) => {
            sql.push(format!(" AND{at}<= ")).push_bind(cutoff);
        }
        None => {}
    }
    if let Some(position) = after {
        sql.push(" AND e.position < ").push_bind(position);
    }
    sql.push(" ORDER BY e.position DESC LIMIT ")
        .push_bind(fetch_limit(limit));
    let rows: Vec<sqlx::types::Json<Stored>> = sql.build_query_scalar().fetch_all(pool).await?;
    let rows = rows
        .into_iter()
        .map(|row| {
            let row = row.0;
            let expires_at = row.at + CONFIRMATION_VALIDITY;
            SnsSubscriptionRow {
                status: if expires_at > query.now {
                    SubscriptionStatus::Pending
                } else {
                    SubscriptionStatus::Expired
                },
                message_id: row.message_id,
                topic_arn: row.topic_arn,
                subscribe_url: row.subscribe_url,
                received_at: row.at,
                expires_at,
                position: row.position,
            }
        })
        .collect();
    Ok(Page::from_rows(rows, limit, |row: &SnsSubscriptionRow| {
        row.position
    }))
}
