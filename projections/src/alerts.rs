//! The `alerts` read model: one row per received alert, folded from the
//! `Alert` aggregate's events, and the queries behind `GET /api/v1/alerts`.

use std::collections::HashMap;

use alertledger_domain::alert::AlertEvent;
use alertledger_domain::values::{AlertStatus, NormalizationWarning, Severity};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use super::decode::{aggregate_uuid, payload, rows_of_aggregates, same_tenant};
use super::page::{bounded, decode_cursor, fetch_limit, Page, QueryError, DEFAULT_LIMIT};
use alertledger_eventstore::consumer::rows::{upsert, ReadModelRow};
use alertledger_eventstore::consumer::{ConsumerError, LogConsumer, Target};
use alertledger_eventstore::log::LogEvent;

/// Keeps the `alerts` table.
#[derive(Debug, Clone, Copy, Default)]
pub struct AlertsProjection;

/// The event types of the `Alert` aggregate this projection folds.
const EVENT_TYPES: &[&str] = &[
    AlertEvent::RECEIVED,
    AlertEvent::ACKNOWLEDGED,
    AlertEvent::CORRELATED,
    AlertEvent::RESOLVED_BY_SOURCE,
    AlertEvent::SUPPRESSED,
    AlertEvent::SUPPRESSION_LIFTED,
];

/// One row of `alerts` (see the migration for what each column means).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertRow {
    pub alert_id: Uuid,
    pub tenant_id: Uuid,
    pub source: String,
    pub tool_source: String,
    pub asset: String,
    pub signature: String,
    pub severity: Severity,
    pub message: String,
    pub status: AlertStatus,
    pub labels: serde_json::Value,
    pub fingerprint: String,
    pub delivery_key: String,
    pub occurred_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub received_position: i64,
    pub resolved_at: Option<DateTime<Utc>>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<String>,
    pub acknowledgement_note: Option<String>,
    pub incident_id: Option<Uuid>,
    pub correlated_at: Option<DateTime<Utc>>,
    pub correlation_reason: Option<serde_json::Value>,
    pub last_position: i64,
    /// What was odd in the tool's payload and stored with a default.
    #[serde(default)]
    pub normalization_warnings: Vec<NormalizationWarning>,
    /// The maintenance window that held it back (the latest, if several).
    #[serde(default)]
    pub suppressed_by: Option<Uuid>,
    /// Until when that window's occurrence holds it (null once lifted).
    #[serde(default)]
    pub suppressed_until: Option<DateTime<Utc>>,
    /// When the window let it go to be correlated (null while held).
    #[serde(default)]
    pub suppression_lifted_at: Option<DateTime<Utc>>,
}

impl ReadModelRow for AlertRow {
    const TABLE: &'static str = "alerts";
    const KEY: &'static [&'static str] = &["alert_id"];
    const COLUMNS: &'static [&'static str] = &[
        "alert_id",
        "tenant_id",
        "source",
        "tool_source",
        "asset",
        "signature",
        "severity",
        "message",
        "status",
        "labels",
        "fingerprint",
        "delivery_key",
        "occurred_at",
        "received_at",
        "received_position",
        "resolved_at",
        "acknowledged_at",
        "acknowledged_by",
        "acknowledgement_note",
        "incident_id",
        "correlated_at",
        "correlation_reason",
        "last_position",
        "normalization_warnings",
        "suppressed_by",
        "suppressed_until",
        "suppression_lifted_at",
    ];

    fn staging_key(&self) -> String {
        self.alert_id.to_string()
    }
}

#[async_trait]
impl LogConsumer for AlertsProjection {
    fn name(&self) -> &'static str {
        "alerts"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["alerts"]
    }

    fn event_types(&self) -> Option<&'static [&'static str]> {
        Some(EVENT_TYPES)
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        target: &Target,
        events: &[LogEvent],
    ) -> Result<(), ConsumerError> {
        let (ids, mut rows) =
            rows_of_aggregates(conn, target, events, "alert_id", |row: &AlertRow| {
                row.alert_id
            })
            .await?;
        for event in events {
            fold(&mut rows, event)?;
        }
        let changed: Vec<AlertRow> = ids.iter().filter_map(|id| rows.remove(id)).collect();
        upsert(conn, target, &changed).await
    }
}

/// Folds one event into the rows of its batch.
fn fold(rows: &mut HashMap<Uuid, AlertRow>, event: &LogEvent) -> Result<(), ConsumerError> {
    let alert_id = aggregate_uuid(event)?;
    let change: AlertEvent = payload(event)?;
    if let AlertEvent::AlertReceived {
        tenant_id,
        alert_id: received_id,
        delivery_key,
        source,
        asset,
        signature,
        severity,
        message,
        tool_source,
        status,
        labels,
        occurred_at,
        fingerprint,
        normalization_warnings,
        at,
        ..
    } = change
    {
        if *received_id.as_uuid() != alert_id {
            return Err(ConsumerError::event(
                event,
                format!("receipt of alert {received_id} stored under aggregate {alert_id}"),
            ));
        }
        if rows.contains_key(&alert_id) {
            return Err(ConsumerError::event(
                event,
                format!("alert {alert_id} was already received"),
            ));
        }
        let labels =
            serde_json::to_value(&labels).map_err(|error| ConsumerError::event(event, error))?;
        rows.insert(
            alert_id,
            AlertRow {
                alert_id,
                tenant_id: *tenant_id.as_uuid(),
                source: source.as_str().to_owned(),
                tool_source: tool_source.as_str().to_owned(),
                asset: asset.as_str().to_owned(),
                signature: signature.as_str().to_owned(),
                severity,
                message: message.as_str().to_owned(),
                status,
                labels,
                fingerprint: fingerprint.as_str().to_owned(),
                delivery_key: delivery_key.as_str().to_owned(),
                occurred_at,
                received_at: at,
                received_position: event.position,
                // Received already resolved: we learned it cleared on receipt.
                resolved_at: (status == AlertStatus::Resolved).then_some(at),
                acknowledged_at: None,
                acknowledged_by: None,
                acknowledgement_note: None,
                incident_id: None,
                correlated_at: None,
                correlation_reason: None,
                last_position: event.position,
                normalization_warnings,
                suppressed_by: None,
                suppressed_until: None,
                suppression_lifted_at: None,
            },
        );
        return Ok(());
    }

    let row = rows.get_mut(&alert_id).ok_or_else(|| {
        ConsumerError::event(event, format!("alert {alert_id} was never received"))
    })?;
    same_tenant(event, row.tenant_id)?;
    match change {
        AlertEvent::AlertReceived { .. } => {}
        AlertEvent::AlertAcknowledged {
            actor, note, at, ..
        } => {
            row.acknowledged_at = Some(at);
            row.acknowledged_by = Some(actor.user_id().as_str().to_owned());
            row.acknowledgement_note = note.map(|note| note.as_str().to_owned());
        }
        AlertEvent::AlertCorrelated {
            incident_id,
            reason,
            at,
            ..
        } => {
            row.incident_id = Some(*incident_id.as_uuid());
            row.correlated_at = Some(at);
            row.correlation_reason = Some(
                serde_json::to_value(&reason)
                    .map_err(|error| ConsumerError::event(event, error))?,
            );
        }
        AlertEvent::AlertSuppressed {
            window_id, until, ..
        } => {
            row.suppressed_by = Some(*window_id.as_uuid());
            row.suppressed_until = Some(until);
            row.suppression_lifted_at = None;
        }
        AlertEvent::AlertSuppressionLifted { at, .. } => {
            row.suppressed_until = None;
            row.suppression_lifted_at = Some(at);
        }
        AlertEvent::AlertResolvedBySource { resolved_at, .. } => {
            row.status = AlertStatus::Resolved;
            row.resolved_at = Some(resolved_at);
        }
    }
    row.last_position = event.position;
    Ok(())
}

/// What `GET /api/v1/alerts` asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertQuery {
    /// The tenants to list (`None`: every tenant, for an MSP admin).
    pub tenants: Option<Vec<Uuid>>,
    pub status: Option<AlertStatus>,
    pub severity: Option<Severity>,
    pub asset: Option<String>,
    /// Only alerts stored with normalization warnings (odd values a sender
    /// sent, kept with defaults), so they can be found and fixed at the source.
    pub with_warnings: bool,
    /// Rows per page (1..=500).
    pub limit: usize,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl Default for AlertQuery {
    fn default() -> Self {
        Self {
            tenants: None,
            status: None,
            severity: None,
            asset: None,
            with_warnings: false,
            limit: DEFAULT_LIMIT,
            cursor: None,
        }
    }
}

/// The sort key of the list: newest received first.
type AlertKey = (DateTime<Utc>, Uuid);

/// One page of alerts matching `query`, newest received first.
pub async fn list(pool: &PgPool, query: &AlertQuery) -> Result<Page<AlertRow>, QueryError> {
    let after: Option<AlertKey> = query.cursor.as_deref().map(decode_cursor).transpose()?;
    let limit = bounded(query.limit);
    let mut sql = QueryBuilder::<Postgres>::new(format!(
        "SELECT to_jsonb(a) FROM {} a WHERE true",
        Target::live().table(AlertRow::TABLE)
    ));
    if let Some(tenants) = &query.tenants {
        sql.push(" AND a.tenant_id = ANY(")
            .push_bind(tenants.clone())
            .push(")");
    }
    if let Some(status) = query.status {
        sql.push(" AND a.status = ").push_bind(status.as_str());
    }
    if let Some(severity) = query.severity {
        sql.push(" AND a.severity = ").push_bind(severity.as_str());
    }
    if let Some(asset) = &query.asset {
        sql.push(" AND a.asset = ").push_bind(asset.clone());
    }
    if query.with_warnings {
        sql.push(" AND a.normalization_warnings <> '[]'::jsonb");
    }
    if let Some((received_at, alert_id)) = after {
        sql.push(" AND (a.received_at, a.alert_id) < (")
            .push_bind(received_at)
            .push(", ")
            .push_bind(alert_id)
            .push(")");
    }
    sql.push(" ORDER BY a.received_at DESC, a.alert_id DESC LIMIT ")
        .push_bind(fetch_limit(limit));
    let rows: Vec<Json<AlertRow>> = sql.build_query_scalar().fetch_all(pool).await?;
    let rows = rows.into_iter().map(|Json(row)| row).collect();
    Ok(Page::from_rows(rows, limit, |row: &AlertRow| {
        (row.received_at, row.alert_id)
    }))
}

/// The alert `alert_id`, of whichever tenant (callers check they may read it).
pub async fn find(pool: &PgPool, alert_id: Uuid) -> Result<Option<AlertRow>, sqlx::Error> {
    let row: Option<Json<AlertRow>> = sqlx::query_scalar(&format!(
        "SELECT to_jsonb(a) FROM {} a WHERE a.alert_id = $1",
        Target::live().table(AlertRow::TABLE)
    ))
    .bind(alert_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|Json(row)| row))
}
