//! The `incidents`, `incident_alerts` and `incident_timeline` read models: one
//! row per incident, folded from the `Incident` aggregate's events exactly as
//! its `apply` folds them; one row per attached alert; and every event as a
//! timeline entry with a sentence for people. Plus the queries behind
//! `GET /api/v1/incidents`.
//!
//! Membership has a table of its own so that one more alert costs the same
//! however many the incident already holds: a batch loads and writes only the
//! membership rows its events name, never the whole list.

use std::collections::{BTreeSet, HashMap};

use alertledger_domain::incident::{IncidentEvent, IncidentStatus, Resolution};
use alertledger_domain::values::{Actor, CorrelationReason, Severity};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use super::decode::{
    aggregate_uuid, metadata_actor, payload, payload_fields, rows_of_aggregates, same_tenant,
};
use super::page::{bounded, decode_cursor, fetch_limit, Page, QueryError, DEFAULT_LIMIT};
use alertledger_eventstore::consumer::rows::{insert, load, upsert, ReadModelRow};
use alertledger_eventstore::consumer::{ConsumerError, LogConsumer, Target};
use alertledger_eventstore::log::LogEvent;

/// Keeps the `incidents`, `incident_alerts` and `incident_timeline` tables.
#[derive(Debug, Clone, Copy, Default)]
pub struct IncidentsProjection;

/// Every event type of the `Incident` aggregate.
const EVENT_TYPES: &[&str] = &[
    IncidentEvent::OPENED,
    IncidentEvent::ALERT_ATTACHED,
    IncidentEvent::PRIORITY_CHANGED,
    IncidentEvent::ACKNOWLEDGED,
    IncidentEvent::ASSIGNED,
    IncidentEvent::COMMENTED,
    IncidentEvent::SILENCED,
    IncidentEvent::ESCALATED,
    IncidentEvent::RESOLVED,
    IncidentEvent::REOPENED,
    IncidentEvent::ALERT_RESOLVED,
    IncidentEvent::ALL_ALERTS_RESOLVED,
    IncidentEvent::FLAPPING,
    IncidentEvent::FLAPPING_ENDED,
];

/// One row of `incidents` (see the migration for what each column means).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentRow {
    pub incident_id: Uuid,
    pub tenant_id: Uuid,
    pub key: String,
    pub asset: String,
    pub signature: String,
    pub severity: Severity,
    pub status: IncidentStatus,
    pub priority_score: i16,
    pub alert_count: i32,
    pub resolved_alert_count: i32,
    pub tool_sources: Vec<String>,
    pub assignee: Option<String>,
    pub opened_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolution: Option<serde_json::Value>,
    pub escalation_count: i32,
    pub all_alerts_resolved_at: Option<DateTime<Utc>>,
    pub opening_reason: serde_json::Value,
    pub last_event_at: DateTime<Utc>,
    pub opened_position: i64,
    pub last_position: i64,
    /// Whether its key flaps now: the notification hold (issue 19; a
    /// flapping incident notifies nobody until `IncidentFlappingEnded`).
    #[serde(default)]
    pub flapping: bool,
    #[serde(default)]
    pub flapping_since: Option<DateTime<Utc>>,
    /// Why it was last marked flapping.
    #[serde(default)]
    pub flapping_reason: Option<String>,
    /// How many times it was marked flapping.
    #[serde(default)]
    pub flapping_count: i32,
}

impl ReadModelRow for IncidentRow {
    const TABLE: &'static str = "incidents";
    const KEY: &'static [&'static str] = &["incident_id"];
    const COLUMNS: &'static [&'static str] = &[
        "incident_id",
        "tenant_id",
        "key",
        "asset",
        "signature",
        "severity",
        "status",
        "priority_score",
        "alert_count",
        "resolved_alert_count",
        "tool_sources",
        "assignee",
        "opened_at",
        "acknowledged_at",
        "resolved_at",
        "resolution",
        "escalation_count",
        "all_alerts_resolved_at",
        "opening_reason",
        "last_event_at",
        "opened_position",
        "last_position",
        "flapping",
        "flapping_since",
        "flapping_reason",
        "flapping_count",
    ];

    // The key directly, without serializing the row for it.
    fn staging_key(&self) -> String {
        self.incident_id.to_string()
    }
}

/// One row of `incident_alerts`: an alert attached to an incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentAlertRow {
    pub incident_id: Uuid,
    pub alert_id: Uuid,
    pub tenant_id: Uuid,
    pub attached_position: i64,
    pub attached_at: DateTime<Utc>,
    pub resolved_position: Option<i64>,
    pub resolved_at: Option<DateTime<Utc>>,
}

impl ReadModelRow for IncidentAlertRow {
    const TABLE: &'static str = "incident_alerts";
    const KEY: &'static [&'static str] = &["incident_id", "alert_id"];
    const COLUMNS: &'static [&'static str] = &[
        "incident_id",
        "alert_id",
        "tenant_id",
        "attached_position",
        "attached_at",
        "resolved_position",
        "resolved_at",
    ];

    fn staging_key(&self) -> String {
        format!("{}\u{1f}{}", self.incident_id, self.alert_id)
    }
}

/// An incident's attached alerts by (incident, alert), as loaded for a batch.
type Members = HashMap<(Uuid, Uuid), IncidentAlertRow>;

/// One entry of `incident_timeline`: an event of the incident, for people.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineRow {
    pub position: i64,
    pub incident_id: Uuid,
    pub tenant_id: Uuid,
    pub at: DateTime<Utc>,
    pub event_type: String,
    pub actor: Option<String>,
    pub summary: String,
    pub details: serde_json::Value,
}

impl ReadModelRow for TimelineRow {
    const TABLE: &'static str = "incident_timeline";
    const KEY: &'static [&'static str] = &["position"];
    const COLUMNS: &'static [&'static str] = &[
        "position",
        "incident_id",
        "tenant_id",
        "at",
        "event_type",
        "actor",
        "summary",
        "details",
    ];
}

impl TimelineRow {
    /// The correlator's recorded reason, for the entries that carry one
    /// (`IncidentOpened`, `AlertAttached`).
    pub fn correlation_reason(&self) -> Option<&serde_json::Value> {
        match self.event_type.as_str() {
            IncidentEvent::OPENED | IncidentEvent::ALERT_ATTACHED => self.details.get("reason"),
            _ => None,
        }
    }
}

#[async_trait]
impl LogConsumer for IncidentsProjection {
    fn name(&self) -> &'static str {
        "incidents"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["incidents", "incident_alerts", "incident_timeline"]
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
            rows_of_aggregates(conn, target, events, "incident_id", |row: &IncidentRow| {
                row.incident_id
            })
            .await?;
        let changes = events
            .iter()
            .map(|event| Ok((event, payload::<IncidentEvent>(event)?)))
            .collect::<Result<Vec<_>, ConsumerError>>()?;
        let mut members = members_named(conn, target, &changes).await?;
        let mut touched = BTreeSet::new();
        let mut timeline = Vec::with_capacity(events.len());
        for (event, change) in changes {
            timeline.push(fold(&mut rows, &mut members, &mut touched, event, change)?);
        }
        let changed: Vec<IncidentRow> = ids.iter().filter_map(|id| rows.remove(id)).collect();
        upsert(conn, target, &changed).await?;
        let changed_members: Vec<IncidentAlertRow> = touched
            .iter()
            .filter_map(|key| members.remove(key))
            .collect();
        upsert(conn, target, &changed_members).await?;
        insert(conn, target, &timeline).await
    }
}

/// The membership rows of the alerts the batch attaches or resolves (those
/// that exist: an attach must not find its row, a resolution must).
async fn members_named(
    conn: &mut PgConnection,
    target: &Target,
    changes: &[(&LogEvent, IncidentEvent)],
) -> Result<Members, ConsumerError> {
    let mut keys = BTreeSet::new();
    for (event, change) in changes {
        if let IncidentEvent::AlertAttached { alert_id, .. }
        | IncidentEvent::IncidentAlertResolved { alert_id, .. } = change
        {
            keys.insert((aggregate_uuid(event)?, *alert_id.as_uuid()));
        }
    }
    let keys: Vec<serde_json::Value> = keys
        .into_iter()
        .map(|(incident_id, alert_id)| {
            serde_json::json!({ "incident_id": incident_id, "alert_id": alert_id })
        })
        .collect();
    Ok(load::<IncidentAlertRow>(conn, target, &keys)
        .await?
        .into_iter()
        .map(|row| ((row.incident_id, row.alert_id), row))
        .collect())
}

/// Folds one event into the rows of its batch (recording in `touched` the
/// membership rows it changes) and returns its timeline entry.
fn fold(
    rows: &mut HashMap<Uuid, IncidentRow>,
    members: &mut Members,
    touched: &mut BTreeSet<(Uuid, Uuid)>,
    event: &LogEvent,
    change: IncidentEvent,
) -> Result<TimelineRow, ConsumerError> {
    let incident_id = aggregate_uuid(event)?;
    let entry = TimelineRow {
        position: event.position,
        incident_id,
        tenant_id: event.tenant_id,
        at: event_at(&change),
        event_type: event.event_type.clone(),
        actor: metadata_actor(event)
            .or_else(|| payload_actor(&change).map(|actor| format!("user:{}", actor.user_id()))),
        summary: summary(&change),
        details: payload_fields(event)?,
    };

    if let IncidentEvent::IncidentOpened {
        tenant_id,
        incident_id: opened_id,
        key,
        first_alert,
        asset,
        signature,
        severity,
        priority,
        reason,
        tool_source,
        at,
    } = change
    {
        if *opened_id.as_uuid() != incident_id {
            return Err(ConsumerError::event(
                event,
                format!("incident {opened_id} opened under aggregate {incident_id}"),
            ));
        }
        if rows.contains_key(&incident_id) {
            return Err(ConsumerError::event(
                event,
                format!("incident {incident_id} was already opened"),
            ));
        }
        let first_alert = *first_alert.as_uuid();
        members.insert(
            (incident_id, first_alert),
            IncidentAlertRow {
                incident_id,
                alert_id: first_alert,
                tenant_id: *tenant_id.as_uuid(),
                attached_position: event.position,
                attached_at: at,
                resolved_position: None,
                resolved_at: None,
            },
        );
        touched.insert((incident_id, first_alert));
        rows.insert(
            incident_id,
            IncidentRow {
                incident_id,
                tenant_id: *tenant_id.as_uuid(),
                key,
                asset: asset.as_str().to_owned(),
                signature: signature.as_str().to_owned(),
                severity,
                status: IncidentStatus::New,
                priority_score: i16::from(priority.value()),
                alert_count: 1,
                resolved_alert_count: 0,
                tool_sources: vec![tool_source.as_str().to_owned()],
                assignee: None,
                opened_at: at,
                acknowledged_at: None,
                resolved_at: None,
                resolution: None,
                escalation_count: 0,
                all_alerts_resolved_at: None,
                opening_reason: json_of(event, &reason)?,
                last_event_at: at,
                opened_position: event.position,
                last_position: event.position,
                flapping: false,
                flapping_since: None,
                flapping_reason: None,
                flapping_count: 0,
            },
        );
        return Ok(entry);
    }

    let row = rows.get_mut(&incident_id).ok_or_else(|| {
        ConsumerError::event(event, format!("incident {incident_id} was never opened"))
    })?;
    same_tenant(event, row.tenant_id)?;
    // Status changes mirror `Incident::apply` (domain/src/incident/aggregate.rs).
    match change {
        IncidentEvent::IncidentOpened { .. } => {}
        IncidentEvent::AlertAttached {
            alert_id,
            tool_source,
            ..
        } => {
            let alert_id = *alert_id.as_uuid();
            if members.contains_key(&(incident_id, alert_id)) {
                return Err(ConsumerError::event(
                    event,
                    format!("alert {alert_id} is already attached"),
                ));
            }
            members.insert(
                (incident_id, alert_id),
                IncidentAlertRow {
                    incident_id,
                    alert_id,
                    tenant_id: row.tenant_id,
                    attached_position: event.position,
                    attached_at: entry.at,
                    resolved_position: None,
                    resolved_at: None,
                },
            );
            touched.insert((incident_id, alert_id));
            row.alert_count += 1;
            let tool = tool_source.as_str().to_owned();
            if !row.tool_sources.contains(&tool) {
                row.tool_sources.push(tool);
                row.tool_sources.sort();
            }
            // A new alert fires, so no longer are all of them resolved.
            row.all_alerts_resolved_at = None;
        }
        IncidentEvent::PriorityChanged { to, .. } => {
            row.priority_score = i16::from(to.value());
        }
        IncidentEvent::IncidentAcknowledged { at, .. } => {
            row.acknowledged_at.get_or_insert(at);
            if row.status == IncidentStatus::New {
                row.status = IncidentStatus::Acknowledged;
            }
        }
        IncidentEvent::IncidentAssigned { assignee, .. } => {
            row.assignee = Some(assignee.as_str().to_owned());
            row.status = IncidentStatus::InProgress;
        }
        IncidentEvent::IncidentCommented { .. } | IncidentEvent::IncidentSilenced { .. } => {}
        IncidentEvent::IncidentEscalated { .. } => {
            row.status = IncidentStatus::Escalated;
            row.escalation_count += 1;
        }
        IncidentEvent::IncidentResolved {
            resolved_by,
            resolution,
            note,
            at,
            ..
        } => {
            row.status = IncidentStatus::Resolved;
            row.resolved_at = Some(at);
            row.resolution = Some(resolution_json(
                event,
                &resolution,
                &resolved_by,
                note.as_ref().map(|n| n.as_str()),
            )?);
        }
        IncidentEvent::IncidentReopened { .. } => {
            row.status = IncidentStatus::New;
            row.resolved_at = None;
            row.resolution = None;
        }
        IncidentEvent::IncidentAlertResolved { alert_id, .. } => {
            let alert_id = *alert_id.as_uuid();
            let Some(member) = members.get_mut(&(incident_id, alert_id)) else {
                return Err(ConsumerError::event(
                    event,
                    format!("alert {alert_id} is not attached to incident {incident_id}"),
                ));
            };
            if member.resolved_position.is_none() {
                member.resolved_position = Some(event.position);
                member.resolved_at = Some(entry.at);
                touched.insert((incident_id, alert_id));
                row.resolved_alert_count += 1;
            }
        }
        IncidentEvent::AllAlertsResolved { at, .. } => {
            row.all_alerts_resolved_at = Some(at);
        }
        IncidentEvent::IncidentFlapping { since, reason, .. } => {
            row.flapping = true;
            row.flapping_since = Some(since);
            row.flapping_reason = Some(reason);
            row.flapping_count += 1;
        }
        IncidentEvent::IncidentFlappingEnded { .. } => {
            row.flapping = false;
            row.flapping_since = None;
        }
    }
    row.last_event_at = entry.at;
    row.last_position = event.position;
    Ok(entry)
}

fn json_of<T: Serialize>(event: &LogEvent, value: &T) -> Result<serde_json::Value, ConsumerError> {
    serde_json::to_value(value).map_err(|error| ConsumerError::event(event, error))
}

/// The resolution with who resolved it and their note, e.g.
/// `{"kind": "manual", "resolved_by": {...}, "note": "..."}`.
fn resolution_json(
    event: &LogEvent,
    resolution: &Resolution,
    resolved_by: &Actor,
    note: Option<&str>,
) -> Result<serde_json::Value, ConsumerError> {
    let mut value = json_of(event, resolution)?;
    if let Some(object) = value.as_object_mut() {
        object.insert("resolved_by".to_owned(), json_of(event, resolved_by)?);
        object.insert("note".to_owned(), serde_json::json!(note));
    }
    Ok(value)
}

fn event_at(event: &IncidentEvent) -> DateTime<Utc> {
    match event {
        IncidentEvent::IncidentOpened { at, .. }
        | IncidentEvent::AlertAttached { at, .. }
        | IncidentEvent::PriorityChanged { at, .. }
        | IncidentEvent::IncidentAcknowledged { at, .. }
        | IncidentEvent::IncidentAssigned { at, .. }
        | IncidentEvent::IncidentCommented { at, .. }
        | IncidentEvent::IncidentSilenced { at, .. }
        | IncidentEvent::IncidentEscalated { at, .. }
        | IncidentEvent::IncidentResolved { at, .. }
        | IncidentEvent::IncidentReopened { at, .. }
        | IncidentEvent::IncidentAlertResolved { at, .. }
        | IncidentEvent::AllAlertsResolved { at, .. }
        | IncidentEvent::IncidentFlapping { at, .. }
        | IncidentEvent::IncidentFlappingEnded { at, .. } => *at,
    }
}

/// The person an event names, for events whose metadata names nobody.
fn payload_actor(event: &IncidentEvent) -> Option<&Actor> {
    match event {
        IncidentEvent::IncidentAcknowledged { actor, .. }
        | IncidentEvent::IncidentAssigned { actor, .. }
        | IncidentEvent::IncidentCommented { actor, .. }
        | IncidentEvent::IncidentSilenced { actor, .. }
        | IncidentEvent::IncidentEscalated { actor, .. }
        | IncidentEvent::IncidentReopened { actor, .. }
        | IncidentEvent::IncidentResolved {
            resolved_by: actor, ..
        } => Some(actor),
        _ => None,
    }
}

/// Longest free text quoted in a summary; the whole text is in `details`.
const QUOTE_CHARS: usize = 200;

/// A sentence for people about what happened.
fn summary(event: &IncidentEvent) -> String {
    let by = |actor: &Actor| format!("{} ({})", actor.name(), actor.user_id());
    match event {
        IncidentEvent::IncidentOpened {
            first_alert,
            severity,
            priority,
            reason,
            ..
        } => format!(
            "Incident opened for alert {first_alert} ({severity}, priority {priority}): {}",
            explanation(reason)
        ),
        IncidentEvent::AlertAttached {
            alert_id, reason, ..
        } => format!("Alert {alert_id} attached: {}", explanation(reason)),
        IncidentEvent::PriorityChanged {
            from, to, reason, ..
        } => format!("Priority changed from {from} to {to}: {reason}"),
        IncidentEvent::IncidentAcknowledged { actor, .. } => {
            format!("Acknowledged by {}", by(actor))
        }
        IncidentEvent::IncidentAssigned {
            assignee, actor, ..
        } => format!("Assigned to {assignee} by {}", by(actor)),
        IncidentEvent::IncidentCommented { text, actor, .. } => {
            format!("{} commented: {}", by(actor), quoted(text.as_str()))
        }
        IncidentEvent::IncidentSilenced {
            window_id,
            until,
            reason,
            actor,
            ..
        } => {
            let what = format!(
                "Silenced by {} until {} (maintenance window {window_id})",
                by(actor),
                until.to_rfc3339()
            );
            match reason {
                Some(reason) => format!("{what}: {}", quoted(reason.as_str())),
                None => what,
            }
        }
        IncidentEvent::IncidentEscalated { reason, actor, .. } => {
            format!("Escalated by {}: {}", by(actor), quoted(reason.as_str()))
        }
        IncidentEvent::IncidentResolved {
            resolved_by,
            resolution,
            note,
            ..
        } => {
            let how = match resolution {
                Resolution::Manual => format!("Resolved by {}", by(resolved_by)),
                Resolution::SelfHealed { execution_id } => format!(
                    "Resolved as self-healed by execution {execution_id} ({})",
                    by(resolved_by)
                ),
                Resolution::SourceResolved => {
                    "Resolved automatically: every alert was resolved at its source".to_owned()
                }
            };
            match note {
                Some(note) => format!("{how}: {}", quoted(note.as_str())),
                None => how,
            }
        }
        IncidentEvent::IncidentReopened { actor, reason, .. } => match reason {
            Some(reason) => format!("Reopened by {}: {}", by(actor), quoted(reason.as_str())),
            None => format!("Reopened by {}", by(actor)),
        },
        IncidentEvent::IncidentAlertResolved { alert_id, .. } => {
            format!("Alert {alert_id} resolved at its source")
        }
        IncidentEvent::AllAlertsResolved { .. } => {
            "Every attached alert is resolved at its source".to_owned()
        }
        IncidentEvent::IncidentFlapping { reason, .. } => {
            format!("Flapping: {reason}; notifications are held until it is stable")
        }
        IncidentEvent::IncidentFlappingEnded { reason, .. } => {
            format!("Flapping ended: {reason}")
        }
    }
}

fn explanation(reason: &CorrelationReason) -> &str {
    if reason.explanation.is_empty() {
        &reason.key
    } else {
        &reason.explanation
    }
}

fn quoted(text: &str) -> String {
    let mut chars = text.chars();
    let head: String = chars.by_ref().take(QUOTE_CHARS).collect();
    if chars.next().is_some() {
        format!("{head}…")
    } else {
        head
    }
}

/// How `GET /api/v1/incidents` orders incidents.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum IncidentSort {
    /// Most recently opened first.
    #[default]
    Newest,
    /// Highest priority score first, then most recently opened.
    Priority,
}

/// What `GET /api/v1/incidents` asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentQuery {
    /// The tenants to list (`None`: every tenant, for an MSP admin).
    pub tenants: Option<Vec<Uuid>>,
    pub status: Option<IncidentStatus>,
    pub severity: Option<Severity>,
    /// Only incidents assigned to this user id.
    pub assignee: Option<String>,
    pub sort: IncidentSort,
    /// Rows per page (1..=500).
    pub limit: usize,
    /// The `next_cursor` of the previous page (of the same sort).
    pub cursor: Option<String>,
}

impl Default for IncidentQuery {
    fn default() -> Self {
        Self {
            tenants: None,
            assignee: None,
            status: None,
            severity: None,
            sort: IncidentSort::Newest,
            limit: DEFAULT_LIMIT,
            cursor: None,
        }
    }
}

/// Sort keys, one shape per sort, so a cursor of one sort is refused by the other.
type NewestKey = (DateTime<Utc>, Uuid);
type PriorityKey = (i16, DateTime<Utc>, Uuid);

/// One page of incidents matching `query`, in its sort order.
pub async fn list(pool: &PgPool, query: &IncidentQuery) -> Result<Page<IncidentRow>, QueryError> {
    let limit = bounded(query.limit);
    let mut sql = QueryBuilder::<Postgres>::new(format!(
        "SELECT to_jsonb(i) FROM {} i WHERE true",
        Target::live().table(IncidentRow::TABLE)
    ));
    if let Some(tenants) = &query.tenants {
        sql.push(" AND i.tenant_id = ANY(")
            .push_bind(tenants.clone())
            .push(")");
    }
    if let Some(status) = query.status {
        sql.push(" AND i.status = ").push_bind(status.as_str());
    }
    if let Some(severity) = query.severity {
        sql.push(" AND i.severity = ").push_bind(severity.as_str());
    }
    if let Some(assignee) = &query.assignee {
        // Served by incidents_assignee_idx (migration 0140).
        sql.push(" AND i.assignee = ").push_bind(assignee.clone());
    }
    match query.sort {
        IncidentSort::Newest => {
            if let Some(cursor) = &query.cursor {
                let (opened_at, incident_id): NewestKey = decode_cursor(cursor)?;
                sql.push(" AND (i.opened_at, i.incident_id) < (")
                    .push_bind(opened_at)
                    .push(", ")
                    .push_bind(incident_id)
                    .push(")");
            }
            sql.push(" ORDER BY i.opened_at DESC, i.incident_id DESC");
        }
        IncidentSort::Priority => {
            if let Some(cursor) = &query.cursor {
                let (score, opened_at, incident_id): PriorityKey = decode_cursor(cursor)?;
                sql.push(" AND (i.priority_score, i.opened_at, i.incident_id) < (")
                    .push_bind(score)
                    .push(", ")
                    .push_bind(opened_at)
                    .push(", ")
                    .push_bind(incident_id)
                    .push(")");
            }
            sql.push(" ORDER BY i.priority_score DESC, i.opened_at DESC, i.incident_id DESC");
        }
    }
    sql.push(" LIMIT ").push_bind(fetch_limit(limit));
    let rows: Vec<Json<IncidentRow>> = sql.build_query_scalar().fetch_all(pool).await?;
    let rows: Vec<IncidentRow> = rows.into_iter().map(|Json(row)| row).collect();
    Ok(match query.sort {
        IncidentSort::Newest => Page::from_rows(rows, limit, |row: &IncidentRow| -> NewestKey {
            (row.opened_at, row.incident_id)
        }),
        IncidentSort::Priority => {
            Page::from_rows(rows, limit, |row: &IncidentRow| -> PriorityKey {
                (row.priority_score, row.opened_at, row.incident_id)
            })
        }
    })
}

/// Up to `limit` incidents of `tenants` (`None`: every tenant) that are not
/// resolved, highest priority first (what a live dashboard starts from).
pub async fn list_open(
    pool: &PgPool,
    tenants: Option<&[Uuid]>,
    limit: usize,
) -> Result<Vec<IncidentRow>, sqlx::Error> {
    let mut sql = QueryBuilder::<Postgres>::new(format!(
        "SELECT to_jsonb(i) FROM {} i WHERE i.status <> ",
        Target::live().table(IncidentRow::TABLE)
    ));
    sql.push_bind(IncidentStatus::Resolved.as_str());
    if let Some(tenants) = tenants {
        sql.push(" AND i.tenant_id = ANY(")
            .push_bind(tenants.to_vec())
            .push(")");
    }
    sql.push(" ORDER BY i.priority_score DESC, i.opened_at DESC, i.incident_id DESC LIMIT ")
        .push_bind(i64::try_from(limit).unwrap_or(i64::MAX));
    let rows: Vec<Json<IncidentRow>> = sql.build_query_scalar().fetch_all(pool).await?;
    Ok(rows.into_iter().map(|Json(row)| row).collect())
}

/// The incident `incident_id`, of whichever tenant (callers check they may read it).
pub async fn find(pool: &PgPool, incident_id: Uuid) -> Result<Option<IncidentRow>, sqlx::Error> {
    let row: Option<Json<IncidentRow>> = sqlx::query_scalar(&format!(
        "SELECT to_jsonb(i) FROM {} i WHERE i.incident_id = $1",
        Target::live().table(IncidentRow::TABLE)
    ))
    .bind(incident_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|Json(row)| row))
}

/// Whether notifications about incident `incident_id` of `tenant_id` are
/// held because its key flaps (issue 19): the read the notifier's
/// suppression check asks. `false` for an unknown incident (the read model
/// may not have it yet: the notifier follows the log, so it should also ask
/// [`alertledger_domain::incident::Incident::notifications_held`] on the
/// aggregate when it needs the answer as of a log position).
pub async fn flapping_hold(
    pool: &PgPool,
    tenant_id: Uuid,
    incident_id: Uuid,
) -> Result<bool, sqlx::Error> {
    let held: Option<bool> = sqlx::query_scalar(&format!(
        "SELECT flapping FROM {} WHERE incident_id = $1 AND tenant_id = $2",
        Target::live().table(IncidentRow::TABLE)
    ))
    .bind(incident_id)
    .bind(tenant_id)
    .fetch_optional(pool)
    .await?;
    Ok(held.unwrap_or(false))
}

/// Alert ids an incident's detail carries of each kind (attached, resolved);
/// the rest are paged by [`alerts_page`], from the detail's cursors.
pub const DETAIL_ALERT_IDS: usize = 100;

/// The first [`DETAIL_ALERT_IDS`] alerts of incident `incident_id` of each
/// kind: attached ones in attach order, resolved ones in the order they were
/// resolved, each with the cursor of its next page (`None`: that was all).
/// Bounded whatever the incident's size: the counts are on the incident row.
pub async fn alert_ids(pool: &PgPool, incident_id: Uuid) -> Result<IncidentAlerts, QueryError> {
    let attached = alerts_page(
        pool,
        incident_id,
        AlertOrder::Attached,
        None,
        DETAIL_ALERT_IDS,
    )
    .await?;
    let resolved = alerts_page(
        pool,
        incident_id,
        AlertOrder::Resolved,
        None,
        DETAIL_ALERT_IDS,
    )
    .await?;
    Ok(IncidentAlerts {
        alert_ids: attached.items.iter().map(|alert| alert.alert_id).collect(),
        alert_ids_next_cursor: attached.next_cursor,
        resolved_alert_ids: resolved.items.iter().map(|alert| alert.alert_id).collect(),
        resolved_alert_ids_next_cursor: resolved.next_cursor,
    })
}

/// An incident's alerts, as its detail shows them (the first ones; the
/// incident row has the counts).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct IncidentAlerts {
    /// The first attached alerts, the first one first.
    pub alert_ids: Vec<Uuid>,
    /// `?cursor=` of `GET /incidents/{id}/alerts` for the attached alerts
    /// after these; `None` when these are all.
    pub alert_ids_next_cursor: Option<String>,
    /// The first attached alerts resolved at their source, in that order.
    pub resolved_alert_ids: Vec<Uuid>,
    /// `?cursor=` of `GET /incidents/{id}/alerts?resolved=true` for the
    /// resolved alerts after these; `None` when these are all.
    pub resolved_alert_ids_next_cursor: Option<String>,
}

/// Which alerts of an incident a page lists, and in which order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertOrder {
    /// Every attached alert, in attach order.
    Attached,
    /// The alerts resolved at their source, in the order they were resolved.
    Resolved,
}

/// One alert of an incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct IncidentAlert {
    pub alert_id: Uuid,
    pub attached_at: DateTime<Utc>,
    /// When its source reported it resolved; `None` while it fires.
    pub resolved_at: Option<DateTime<Utc>>,
    #[serde(skip)]
    position: i64,
}

/// Sort key of a page of an incident's alerts: the order's tag (so a cursor
/// of one order is refused by the other), the position, the alert.
type IncidentAlertKey = (char, i64, Uuid);

/// One page of incident `incident_id`'s alerts in `order`, after `cursor`.
/// Keyset over `(incident_id, position, alert_id)` (indexed, migration
/// 0039), so every page costs the same however many alerts the incident has.
pub async fn alerts_page(
    pool: &PgPool,
    incident_id: Uuid,
    order: AlertOrder,
    cursor: Option<&str>,
    limit: usize,
) -> Result<Page<IncidentAlert>, QueryError> {
    let limit = bounded(limit);
    let (tag, column) = match order {
        AlertOrder::Attached => ('a', "attached_position"),
        AlertOrder::Resolved => ('r', "resolved_position"),
    };
    let mut sql = QueryBuilder::<Postgres>::new(format!(
        "SELECT alert_id, attached_at, resolved_at, {column} AS position FROM {}
          WHERE incident_id = ",
        Target::live().table(IncidentAlertRow::TABLE)
    ));
    sql.push_bind(incident_id)
        .push(format!(" AND {column} IS NOT NULL"));
    if let Some(cursor) = cursor {
        let (cursor_tag, position, alert_id): IncidentAlertKey = decode_cursor(cursor)?;
        if cursor_tag != tag {
            return Err(QueryError::InvalidCursor);
        }
        sql.push(format!(" AND ({column}, alert_id) > ("))
            .push_bind(position)
            .push(", ")
            .push_bind(alert_id)
            .push(")");
    }
    sql.push(format!(" ORDER BY {column}, alert_id LIMIT "))
        .push_bind(fetch_limit(limit));
    let rows: Vec<IncidentAlert> = sql.build_query_as().fetch_all(pool).await?;
    Ok(Page::from_rows(
        rows,
        limit,
        |alert: &IncidentAlert| -> IncidentAlertKey { (tag, alert.position, alert.alert_id) },
    ))
}

/// Every timeline entry of incident `incident_id`, in log order: its own
/// events, its approvals' and executions' (`remediation_timeline`) and its
/// escalations' (`escalation_timeline`) and its notifications'
/// (`notification_timeline`).
pub async fn timeline(pool: &PgPool, incident_id: Uuid) -> Result<Vec<TimelineRow>, sqlx::Error> {
    let rows: Vec<Json<TimelineRow>> = sqlx::query_scalar(&format!(
        "SELECT to_jsonb(t) FROM (
                SELECT * FROM {} WHERE incident_id = $1
                UNION ALL
                SELECT * FROM {} WHERE incident_id = $1
                UNION ALL
                SELECT * FROM {} WHERE incident_id = $1
                UNION ALL
                SELECT * FROM {} WHERE incident_id = $1
            ) t ORDER BY t.position",
        Target::live().table(TimelineRow::TABLE),
        Target::live().table("remediation_timeline"),
        Target::live().table("escalation_timeline"),
        Target::live().table("notification_timeline")
    ))
    .bind(incident_id)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|Json(row)| row).collect())
}
