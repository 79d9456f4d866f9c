//! The `notifications` and `notification_timeline` read models, from the
//! `NotificationDelivery` events (requested, delivered, failed, policy
//! matched): one row per notification with its final state, and one
//! timeline entry per event on its incident (merged into
//! `GET /incidents/{id}`'s timeline). Plus the query behind
//! `GET /api/v1/notifications`, which adds the attempts of pending
//! notifications from the notifier's operational rows
//! (`notification_attempts`, not events: see docs/notifications.md).

use alertledger_domain::notification::NotificationDeliveryEvent;
use alertledger_eventstore::consumer::{ConsumerError, LogConsumer, Target};
use alertledger_eventstore::log::LogEvent;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::decode::payload;
use crate::page::{bounded, decode_cursor, fetch_limit, Page, QueryError, DEFAULT_LIMIT};

/// Keeps `notifications` and `notification_timeline`.
pub struct NotificationsProjection;

#[async_trait]
impl LogConsumer for NotificationsProjection {
    fn name(&self) -> &'static str {
        "notifications"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["notifications", "notification_timeline"]
    }

    fn event_types(&self) -> Option<&'static [&'static str]> {
        Some(NotificationDeliveryEvent::TYPES)
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        target: &Target,
        events: &[LogEvent],
    ) -> Result<(), ConsumerError> {
        let rows = target.table("notifications");
        let timeline = target.table("notification_timeline");
        for event in events {
            let change: NotificationDeliveryEvent = payload(event)?;
            let notification_id = Uuid::parse_str(&event.aggregate_id).map_err(|error| {
                ConsumerError::event(event, format!("bad aggregate id: {error}"))
            })?;
            let (summary, at) = match &change {
                NotificationDeliveryEvent::NotificationRequested {
                    tenant_id,
                    incident_id,
                    channel_id,
                    channel_type,
                    rule_id,
                    trigger,
                    due_at,
                    at,
                } => {
                    sqlx::query(&format!(
                        "INSERT INTO {rows} (notification_id, tenant_id, incident_id, channel_id,
                             channel_type, rule_id, trigger, status, due_at, requested_at, position)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $9, $10)
                         ON CONFLICT (notification_id) DO NOTHING"
                    ))
                    .bind(notification_id)
                    .bind(tenant_id.as_uuid())
                    .bind(incident_id.as_uuid())
                    .bind(channel_id.as_uuid())
                    .bind(channel_type.as_str())
                    .bind(rule_id.as_ref().map(|rule| *rule.as_uuid()))
                    .bind(trigger.as_str())
                    .bind(due_at)
                    .bind(at)
                    .bind(event.position)
                    .execute(&mut *conn)
                    .await?;
                    let when = if due_at > at {
                        format!(", held until {} (storm coalescing)", due_at.to_rfc3339())
                    } else {
                        String::new()
                    };
                    (
                        format!(
                            "Notification requested on the {channel_type} channel ({}){when}",
                            trigger.as_str()
                        ),
                        *at,
                    )
                }
                NotificationDeliveryEvent::NotificationDelivered {
                    attempts,
                    code,
                    held_back,
                    at,
                    ..
                } => {
                    finish(
                        conn,
                        &rows,
                        notification_id,
                        "delivered",
                        *attempts,
                        *held_back,
                        *code,
                        None,
                        *at,
                        event.position,
                    )
                    .await?;
                    let digest = if *held_back > 0 {
                        format!(", with a digest of {held_back} held back")
                    } else {
                        String::new()
                    };
                    (
                        format!(
                            "Notification delivered after {attempts} attempt(s){}{digest}",
                            code.map(|c| format!(" (answer {c})")).unwrap_or_default()
                        ),
                        *at,
                    )
                }
                NotificationDeliveryEvent::NotificationFailed {
                    attempts,
                    error,
                    held_back,
                    at,
                    ..
                } => {
                    finish(
                        conn,
                        &rows,
                        notification_id,
                        "failed",
                        *attempts,
                        *held_back,
                        None,
                        Some(error),
                        *at,
                        event.position,
                    )
                    .await?;
                    (
                        format!("Notification failed after {attempts} attempt(s): {error}"),
                        *at,
                    )
                }
                NotificationDeliveryEvent::NotificationPolicyMatched {
                    tenant_id,
                    incident_id,
                    rule_id,
                    policy_id,
                    trigger,
                    at,
                } => {
                    sqlx::query(&format!(
                        "INSERT INTO {rows} (notification_id, tenant_id, incident_id, rule_id,
                             trigger, status, policy_id, requested_at, position)
                         VALUES ($1, $2, $3, $4, $5, 'policy_matched', $6, $7, $8)
                         ON CONFLICT (notification_id) DO NOTHING"
                    ))
                    .bind(notification_id)
                    .bind(tenant_id.as_uuid())
                    .bind(incident_id.as_uuid())
                    .bind(rule_id.as_uuid())
                    .bind(trigger.as_str())
                    .bind(policy_id)
                    .bind(at)
                    .bind(event.position)
                    .execute(&mut *conn)
                    .await?;
                    (
                        format!(
                            "Escalation policy {policy_id} matched ({})",
                            trigger.as_str()
                        ),
                        *at,
                    )
                }
            };
            let mut details = serde_json::to_value(&change)
                .ok()
                .and_then(|value| value.as_object().and_then(|o| o.values().next().cloned()))
                .unwrap_or(serde_json::Value::Null);
            if let Some(map) = details.as_object_mut() {
                map.insert(
                    "notification_id".to_owned(),
                    serde_json::json!(notification_id),
                );
            }
            sqlx::query(&format!(
                "INSERT INTO {timeline} (position, incident_id, tenant_id, at, event_type, actor,
                     summary, details)
                 VALUES ($1, $2, $3, $4, $5, 'worker:notifier', $6, $7)
                 ON CONFLICT (position) DO NOTHING"
            ))
            .bind(event.position)
            .bind(change.incident_id().as_uuid())
            .bind(change.tenant_id().as_uuid())
            .bind(at)
            .bind(change.type_name())
            .bind(summary)
            .bind(details)
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }
}

#[allow(clippy::too_many_arguments)]
async fn finish(
    conn: &mut PgConnection,
    rows: &str,
    notification_id: Uuid,
    status: &str,
    attempts: u32,
    held_back: u32,
    code: Option<u16>,
    error: Option<&str>,
    at: DateTime<Utc>,
    position: i64,
) -> Result<(), ConsumerError> {
    sqlx::query(&format!(
        "UPDATE {rows} SET status = $2, attempts = $3, held_back = $4, code = $5, error = $6,
                finished_at = $7, position = $8
          WHERE notification_id = $1"
    ))
    .bind(notification_id)
    .bind(status)
    .bind(i64::from(attempts))
    .bind(i64::from(held_back))
    .bind(code.map(i32::from))
    .bind(error)
    .bind(at)
    .bind(position)
    .execute(conn)
    .await?;
    Ok(())
}

/// One notification as `GET /api/v1/notifications` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct NotificationRow {
    pub notification_id: Uuid,
    pub tenant_id: Uuid,
    pub incident_id: Uuid,
    pub channel_id: Option<Uuid>,
    pub channel_type: Option<String>,
    /// The rule that asked for it (none for an escalation level reached).
    pub rule_id: Option<Uuid>,
    /// The incident event that caused it (`incident_opened`, ...).
    pub trigger: String,
    /// `pending`, `delivered`, `failed` or `policy_matched`.
    pub status: String,
    /// Attempts so far (final ones from the event; pending ones from the
    /// notifier's attempt rows).
    pub attempts: i32,
    /// Messages held back by storm coalescing that this one carries (so
    /// far, while pending).
    pub held_back: i32,
    pub code: Option<i32>,
    pub error: Option<String>,
    pub policy_id: Option<Uuid>,
    /// When the first attempt is (was) due.
    pub due_at: Option<DateTime<Utc>>,
    pub requested_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// What the list asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct NotificationQuery {
    /// The tenants to list (`None`: every tenant, for an MSP admin).
    pub tenants: Option<Vec<Uuid>>,
    pub incident: Option<Uuid>,
    pub status: Option<String>,
    pub limit: usize,
    pub cursor: Option<String>,
}

impl Default for NotificationQuery {
    fn default() -> Self {
        Self {
            tenants: None,
            incident: None,
            status: None,
            limit: DEFAULT_LIMIT,
            cursor: None,
        }
    }
}

/// One page of notifications, newest first.
pub async fn list(
    pool: &PgPool,
    query: &NotificationQuery,
) -> Result<Page<NotificationRow>, QueryError> {
    let after: Option<(DateTime<Utc>, Uuid)> =
        query.cursor.as_deref().map(decode_cursor).transpose()?;
    let limit = bounded(query.limit);
    let mut sql = QueryBuilder::<Postgres>::new(
        "SELECT n.notification_id, n.tenant_id, n.incident_id, n.channel_id, n.channel_type,
                n.rule_id, n.trigger, n.status,
                CASE WHEN n.status = 'pending'
                     THEN (SELECT count(*)::int FROM notification_attempts a
                            WHERE a.notification_id = n.notification_id)
                     ELSE n.attempts END AS attempts,
                CASE WHEN n.status = 'pending'
                     THEN COALESCE((SELECT jsonb_array_length(o.held_back) FROM notification_outbox o
                                     WHERE o.notification_id = n.notification_id), 0)
                     ELSE n.held_back END AS held_back,
                n.code,
                CASE WHEN n.status = 'pending'
                     THEN (SELECT a.error FROM notification_attempts a
                            WHERE a.notification_id = n.notification_id
                            ORDER BY a.attempt DESC LIMIT 1)
                     ELSE n.error END AS error,
                n.policy_id, n.due_at, n.requested_at, n.finished_at
           FROM notifications n WHERE true",
    );
    if let Some(tenants) = &query.tenants {
        sql.push(" AND n.tenant_id = ANY(")
            .push_bind(tenants.clone())
            .push(")");
    }
    if let Some(incident) = query.incident {
        sql.push(" AND n.incident_id = ").push_bind(incident);
    }
    if let Some(status) = &query.status {
        sql.push(" AND n.status = ").push_bind(status.clone());
    }
    if let Some((at, id)) = after {
        sql.push(" AND (n.requested_at, n.notification_id) < (")
            .push_bind(at)
            .push(", ")
            .push_bind(id)
            .push(")");
    }
    sql.push(" ORDER BY n.requested_at DESC, n.notification_id DESC LIMIT ")
        .push_bind(fetch_limit(limit));
    let rows: Vec<NotificationRow> = sql.build_query_as().fetch_all(pool).await?;
    Ok(Page::from_rows(rows, limit, |row: &NotificationRow| {
        (row.requested_at, row.notification_id)
    }))
}

/// Notifications and attempts per channel type and outcome, for `/metrics`.
pub async fn counts(pool: &PgPool) -> Result<Vec<(String, String, i64, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT COALESCE(n.channel_type, 'escalation_policy'), n.status, count(*),
                COALESCE(sum(CASE WHEN n.status = 'pending'
                                  THEN (SELECT count(*) FROM notification_attempts a
                                         WHERE a.notification_id = n.notification_id)
                                  ELSE n.attempts END), 0)::bigint
           FROM notifications n GROUP BY 1, 2 ORDER BY 1, 2",
    )
    .fetch_all(pool)
    .await
}
