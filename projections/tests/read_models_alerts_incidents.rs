//! The alerts and incidents read models: real events in, exact rows out; an
//! event that cannot be applied stops the projector at its position; a rebuild
//! and a run in small batches give the same tables as the live projector.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alertledger_domain::alert::{Alert, AlertCommand, AlertEvent};
use alertledger_domain::incident::{Incident, IncidentCommand, IncidentStatus, Resolution};
use alertledger_domain::values::{
    Actor, AlertId, AlertMessage, AlertSignature, AlertStatus, AssetName, CorrelationDecision,
    CorrelationReason, DeliveryKey, ExecutionId, Fingerprint, IncidentId, Labels, Note,
    PriorityScore, Role, Severity, TenantId, ToolSource, UserId, WebhookSource,
};
use alertledger_domain::{DomainServices, FixedClock};
use alertledger_eventstore::consumer::rebuild::{
    build_history, build_history_all, drop_schema, rebuild_all_live, rebuild_live, scratch_schema,
    HistoryOptions, Until,
};
use alertledger_eventstore::consumer::{
    Checkpoint, ConsumerError, ConsumerRunner, LogConsumer, RunnerSettings, RunnerState,
};
use alertledger_eventstore::log::LogSignal;
use alertledger_eventstore::receipts::{append_receipts, ReceiptRow};
use alertledger_eventstore::store::{AggregateStore, EventMetadata};
use alertledger_projections::alerts::{AlertRow, AlertsProjection};
use alertledger_projections::incidents::{
    self, IncidentAlertRow, IncidentRow, IncidentsProjection, TimelineRow,
};
use alertledger_schema::TestDatabase;
use chrono::{DateTime, TimeZone, Utc};
use cqrs_es::DomainEvent;
use serde_json::{json, Value};
use uuid::Uuid;

/// Writes events the way the service does, on a clock the test moves.
struct History {
    db: TestDatabase,
    clock: Arc<FixedClock>,
    alerts: AggregateStore<Alert>,
    incidents: AggregateStore<Incident>,
}

fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 3, 0, 0).unwrap()
}

fn technician() -> Actor {
    Actor::new(UserId::parse("u-7").unwrap(), "Grace", Role::Technician)
}

fn reason(key: &str, decision: CorrelationDecision, explanation: &str) -> CorrelationReason {
    CorrelationReason {
        key: key.to_owned(),
        window_minutes: 15,
        decision,
        explanation: explanation.to_owned(),
    }
}

impl History {
    async fn new() -> Self {
        let db = TestDatabase::create().await;
        let clock = Arc::new(FixedClock::new(start_time()));
        let services = DomainServices::new(clock.clone());
        Self {
            alerts: AggregateStore::new(db.pool().clone(), services.clone(), LogSignal::local()),
            incidents: AggregateStore::new(db.pool().clone(), services, LogSignal::local()),
            clock,
            db,
        }
    }

    fn now(&self) -> DateTime<Utc> {
        use alertledger_domain::Clock;
        self.clock.now()
    }

    fn tick(&self, minutes: i64) {
        self.clock.advance(chrono::Duration::minutes(minutes));
    }

    /// Stores an alert receipt through the hot path, as webhook ingestion does.
    async fn receive(
        &self,
        tenant: TenantId,
        key: &str,
        asset: &str,
        severity: Severity,
        tool: &str,
        status: AlertStatus,
    ) -> AlertId {
        let (alert_id, row) = self.receipt(tenant, key, asset, severity, tool, status);
        let outcome = append_receipts(self.db.pool(), "Alert", &[row])
            .await
            .unwrap();
        assert!(!outcome[0].duplicate);
        alert_id
    }

    /// The receipt of one alert, as ingestion builds it.
    fn receipt(
        &self,
        tenant: TenantId,
        key: &str,
        asset: &str,
        severity: Severity,
        tool: &str,
        status: AlertStatus,
    ) -> (AlertId, ReceiptRow) {
        let delivery_key = DeliveryKey::parse(key).unwrap();
        let alert_id = AlertId::for_delivery(&tenant, &delivery_key);
        let event = AlertEvent::AlertReceived {
            tenant_id: tenant,
            alert_id,
            delivery_key,
            source: WebhookSource::Generic,
            asset: AssetName::parse(asset).unwrap(),
            signature: AlertSignature::parse("HighCPU").unwrap(),
            severity,
            message: AlertMessage::parse("CPU > 95% for 5 minutes").unwrap(),
            tool_source: ToolSource::parse(tool).unwrap(),
            status,
            labels: Labels::new(BTreeMap::from([("env".into(), "production".into())])).unwrap(),
            occurred_at: self.now() - chrono::Duration::minutes(2),
            fingerprint: Fingerprint::parse(&format!("fp-{asset}")).unwrap(),
            asset_known: false,
            normalization_warnings: Vec::new(),
            at: self.now(),
        };
        let metadata = EventMetadata {
            delivery_key: Some(key.to_owned()),
            ..EventMetadata::by("api_key:k-1")
        };
        (alert_id, raw_row(alert_id, &event, &metadata))
    }

    async fn alert(&self, alert_id: AlertId, command: AlertCommand, actor: &str) {
        self.alerts
            .execute(&alert_id.to_string(), command, EventMetadata::by(actor))
            .await
            .unwrap();
    }

    async fn incident(&self, incident_id: IncidentId, command: IncidentCommand, actor: &str) {
        self.incidents
            .execute(&incident_id.to_string(), command, EventMetadata::by(actor))
            .await
            .unwrap();
    }

    /// Opens an incident for `first_alert`, as the correlator would.
    async fn open(
        &self,
        tenant: TenantId,
        first_alert: AlertId,
        asset: &str,
        priority: i64,
    ) -> IncidentId {
        let incident_id = IncidentId::new_v7();
        let key = format!("{asset}|HighCPU");
        let explanation = format!("no open incident with key {key} in the last 15 minutes");
        let open = IncidentCommand::OpenIncident {
            incident_id,
            tenant_id: tenant,
            key: key.clone(),
            first_alert,
            asset: AssetName::parse(asset).unwrap(),
            signature: AlertSignature::parse("HighCPU").unwrap(),
            severity: Severity::High,
            priority: PriorityScore::new(priority).unwrap(),
            reason: reason(&key, CorrelationDecision::Opened, &explanation),
            tool_source: ToolSource::parse("zabbix").unwrap(),
        };
        self.incident(incident_id, open, "worker:correlator").await;
        incident_id
    }

    async fn attach(
        &self,
        incident_id: IncidentId,
        alert_id: AlertId,
        key: &str,
        tool: &str,
        priority: Option<i64>,
    ) {
        let attach = IncidentCommand::AttachAlert {
            alert_id,
            reason: reason(
                key,
                CorrelationDecision::Attached { to: incident_id },
                &format!("open incident with key {key} within 15 minutes"),
            ),
            priority: priority.map(|p| PriorityScore::new(p).unwrap()),
            tool_source: ToolSource::parse(tool).unwrap(),
        };
        self.incident(incident_id, attach, "worker:correlator")
            .await;
    }

    /// Positions of an aggregate's events, by sequence.
    async fn positions(&self, aggregate_id: impl ToString) -> Vec<i64> {
        sqlx::query_scalar("SELECT position FROM events WHERE aggregate_id = $1 ORDER BY sequence")
            .bind(aggregate_id.to_string())
            .fetch_all(self.db.pool())
            .await
            .unwrap()
    }

    fn runner(&self, projection: Arc<dyn LogConsumer>, batch_size: usize) -> ConsumerRunner {
        ConsumerRunner::new(
            self.db.pool().clone(),
            LogSignal::local(),
            projection,
            RunnerSettings {
                batch_size,
                ..RunnerSettings::default()
            },
        )
    }

    /// Catches `runner` up with every stored event it reads. The log shows an
    /// event only once every older transaction in the cluster has ended (other
    /// tests' included), so this polls with a deadline.
    async fn catch_up(&self, runner: &ConsumerRunner, types: &[&str]) {
        let stored: i64 =
            sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = ANY($1)")
                .bind(types)
                .fetch_one(self.db.pool())
                .await
                .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            runner.catch_up().await.unwrap();
            let applied = Checkpoint::find(self.db.pool(), runner.name())
                .await
                .unwrap()
                .map_or(0, |c| c.events_applied);
            if applied >= stored {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} applied {applied} of {stored} events",
                runner.name()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn alert_rows(&self) -> Vec<AlertRow> {
        rows(
            self.db.pool(),
            "SELECT to_jsonb(t) FROM alerts t ORDER BY received_position",
        )
        .await
    }

    async fn incident_row(&self, incident_id: IncidentId) -> IncidentRow {
        let found: Vec<IncidentRow> = rows(
            self.db.pool(),
            &format!("SELECT to_jsonb(t) FROM incidents t WHERE incident_id = '{incident_id}'"),
        )
        .await;
        found.into_iter().next().expect("the incident has a row")
    }

    async fn timeline(&self, incident_id: IncidentId) -> Vec<TimelineRow> {
        rows(
            self.db.pool(),
            &format!(
                "SELECT to_jsonb(t) FROM incident_timeline t WHERE incident_id = '{incident_id}' ORDER BY position"
            ),
        )
        .await
    }
}

async fn rows<T: serde::de::DeserializeOwned + Send + Unpin + 'static>(
    pool: &sqlx::PgPool,
    sql: &str,
) -> Vec<T> {
    let found: Vec<sqlx::types::Json<T>> = sqlx::query_scalar(sql).fetch_all(pool).await.unwrap();
    found.into_iter().map(|j| j.0).collect()
}

/// An event as a stored row, for writing what no command would (only the
/// receipt path writes rows without running an aggregate).
fn raw_row<E: DomainEvent>(
    aggregate_id: impl ToString,
    event: &E,
    metadata: &EventMetadata,
) -> ReceiptRow {
    ReceiptRow {
        aggregate_id: aggregate_id.to_string(),
        event_type: event.event_type(),
        event_version: event.event_version(),
        payload: serde_json::to_string(event).unwrap(),
        metadata: metadata.to_json_text(),
    }
}

/// Every row of the read-model tables in `schema`, as JSON, in key order.
async fn snapshot(pool: &sqlx::PgPool, schema: &str) -> Value {
    let mut tables = serde_json::Map::new();
    for (table, key) in [
        ("alerts", "alert_id"),
        ("incidents", "incident_id"),
        ("incident_alerts", "incident_id, t.alert_id"),
        ("incident_timeline", "position"),
    ] {
        let all: Value = sqlx::query_scalar(&format!(
            "SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY t.{key}), '[]') FROM \"{schema}\".\"{table}\" t"
        ))
        .fetch_one(pool)
        .await
        .unwrap();
        tables.insert(table.to_owned(), all);
    }
    Value::Object(tables)
}

const ALERT_TYPES: &[&str] = &[
    "AlertReceived",
    "AlertAcknowledged",
    "AlertCorrelated",
    "AlertResolvedBySource",
];

fn incident_types() -> &'static [&'static str] {
    IncidentsProjection.event_types().unwrap()
}

/// Microseconds, as PostgreSQL keeps them.
fn micros(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(at.timestamp_micros()).unwrap()
}

#[tokio::test]
async fn alert_events_fold_into_exactly_one_row_per_alert() {
    let history = History::new().await;
    let tenant = TenantId::new_v7();
    let received_at = history.now();
    let firing = history
        .receive(
            tenant,
            "d-1",
            "web01",
            Severity::Critical,
            "prometheus",
            AlertStatus::Firing,
        )
        .await;
    let already_resolved = history
        .receive(
            tenant,
            "d-2",
            "db01",
            Severity::Low,
            "zabbix",
            AlertStatus::Resolved,
        )
        .await;

    history.tick(1);
    let acknowledged_at = history.now();
    let acknowledge = AlertCommand::AcknowledgeAlert {
        actor: technician(),
        note: Some(Note::parse("looking").unwrap()),
    };
    history.alert(firing, acknowledge, "user:u-7").await;
    history.tick(1);
    let correlated_at = history.now();
    let incident_id = IncidentId::new_v7();
    let correlation = reason(
        "web01|HighCPU",
        CorrelationDecision::Opened,
        "first of its key",
    );
    let correlate = AlertCommand::CorrelateAlert {
        incident_id,
        reason: correlation.clone(),
    };
    history.alert(firing, correlate, "worker:correlator").await;
    history.tick(1);
    let cleared_at = history.now() - chrono::Duration::seconds(30);
    let resolve = AlertCommand::ResolveAlertFromSource {
        resolved_at: cleared_at,
        delivery_key: None,
    };
    history.alert(firing, resolve, "api_key:k-1").await;

    let runner = history.runner(Arc::new(AlertsProjection), 1_000);
    history.catch_up(&runner, ALERT_TYPES).await;

    let firing_positions = history.positions(firing).await;
    let resolved_position = history.positions(already_resolved).await[0];
    let expected_first = AlertRow {
        alert_id: *firing.as_uuid(),
        tenant_id: *tenant.as_uuid(),
        source: "generic".into(),
        tool_source: "prometheus".into(),
        asset: "web01".into(),
        signature: "HighCPU".into(),
        severity: Severity::Critical,
        message: "CPU > 95% for 5 minutes".into(),
        status: AlertStatus::Resolved,
        labels: json!({ "env": "production" }),
        fingerprint: "fp-web01".into(),
        delivery_key: "d-1".into(),
        occurred_at: received_at - chrono::Duration::minutes(2),
        received_at,
        received_position: firing_positions[0],
        resolved_at: Some(cleared_at),
        acknowledged_at: Some(acknowledged_at),
        acknowledged_by: Some("u-7".into()),
        acknowledgement_note: Some("looking".into()),
        incident_id: Some(*incident_id.as_uuid()),
        correlated_at: Some(correlated_at),
        correlation_reason: Some(json!({
            "key": "web01|HighCPU",
            "window_minutes": 15,
            "decision": { "kind": "opened" },
            "explanation": "first of its key",
        })),
        last_position: firing_positions[3],
        normalization_warnings: Vec::new(),
        suppressed_by: None,
        suppressed_until: None,
        suppression_lifted_at: None,
    };
    let expected_second = AlertRow {
        alert_id: *already_resolved.as_uuid(),
        tool_source: "zabbix".into(),
        asset: "db01".into(),
        severity: Severity::Low,
        fingerprint: "fp-db01".into(),
        delivery_key: "d-2".into(),
        received_position: resolved_position,
        // Received resolved: cleared as far as we know when it arrived.
        resolved_at: Some(received_at),
        acknowledged_at: None,
        acknowledged_by: None,
        acknowledgement_note: None,
        incident_id: None,
        correlated_at: None,
        correlation_reason: None,
        last_position: resolved_position,
        ..expected_first.clone()
    };
    let mut expected = vec![expected_first, expected_second];
    expected.sort_by_key(|row| row.received_position);
    assert_eq!(history.alert_rows().await, expected);
}

#[tokio::test]
async fn an_incident_row_follows_the_aggregate_through_its_whole_lifecycle() {
    let history = History::new().await;
    let tenant = TenantId::new_v7();
    let runner = history.runner(Arc::new(IncidentsProjection), 1_000);
    let first = AlertId::new_v7();
    let second = AlertId::new_v7();
    let opened_at = history.now();
    let incident_id = history.open(tenant, first, "web01", 60).await;

    // After every command, the row's status and times equal the aggregate's.
    let steps: Vec<(IncidentCommand, &str)> = vec![
        (
            IncidentCommand::AssignIncident {
                assignee: UserId::parse("u-9").unwrap(),
                actor: technician(),
            },
            "user:u-7",
        ),
        // Acknowledging an incident in progress leaves it in progress.
        (
            IncidentCommand::AcknowledgeIncident {
                actor: technician(),
            },
            "user:u-7",
        ),
        (
            IncidentCommand::CommentOnIncident {
                text: Note::parse("disk is fine, CPU is not").unwrap(),
                actor: technician(),
            },
            "user:u-7",
        ),
        (
            IncidentCommand::EscalateIncident {
                reason: Note::parse("needs the database team").unwrap(),
                actor: technician(),
            },
            "user:u-7",
        ),
        (
            IncidentCommand::ResolveIncident {
                actor: technician(),
                note: Some(Note::parse("restarted").unwrap()),
                resolution: Resolution::Manual,
            },
            "user:u-7",
        ),
        (
            IncidentCommand::ReopenIncident {
                actor: technician(),
                reason: None,
            },
            "user:u-7",
        ),
        (
            IncidentCommand::AcknowledgeIncident {
                actor: technician(),
            },
            "user:u-7",
        ),
    ];
    let mut seen = vec![IncidentStatus::New];
    history.catch_up(&runner, incident_types()).await;
    assert_eq!(
        history.incident_row(incident_id).await.status,
        IncidentStatus::New
    );
    for (command, actor) in steps {
        history.tick(1);
        history.incident(incident_id, command, actor).await;
        history.catch_up(&runner, incident_types()).await;
        let state = history
            .incidents
            .load(&incident_id.to_string())
            .await
            .unwrap();
        let row = history.incident_row(incident_id).await;
        assert_eq!(row.status, state.status());
        assert_eq!(
            row.acknowledged_at,
            state.first_acknowledged_at().map(micros)
        );
        assert_eq!(row.resolved_at, state.resolved_at().map(micros));
        assert_eq!(
            row.assignee.as_deref(),
            state.assignee().map(|a| a.as_str())
        );
        seen.push(row.status);
    }
    use IncidentStatus::*;
    assert_eq!(
        seen,
        [
            New,
            InProgress,
            InProgress,
            InProgress,
            Escalated,
            Resolved,
            New,
            Acknowledged
        ]
    );

    // A second alert from another tool raises the priority; then both clear.
    history.tick(1);
    history
        .attach(incident_id, second, "web01|HighCPU", "prometheus", Some(72))
        .await;
    history.tick(1);
    let all_resolved_at = history.now();
    for alert in [first, second] {
        let resolved = IncidentCommand::RecordAlertResolved { alert_id: alert };
        history.incident(incident_id, resolved, "api_key:k-1").await;
    }
    history.catch_up(&runner, incident_types()).await;

    let positions = history.positions(incident_id).await;
    assert_eq!(positions.len(), 13);
    let row = history.incident_row(incident_id).await;
    let expected = IncidentRow {
        incident_id: *incident_id.as_uuid(),
        tenant_id: *tenant.as_uuid(),
        key: "web01|HighCPU".into(),
        asset: "web01".into(),
        signature: "HighCPU".into(),
        severity: Severity::High,
        status: IncidentStatus::Acknowledged,
        priority_score: 72,
        alert_count: 2,
        resolved_alert_count: 2,
        tool_sources: vec!["prometheus".into(), "zabbix".into()],
        assignee: Some("u-9".into()),
        opened_at,
        acknowledged_at: Some(opened_at + chrono::Duration::minutes(2)),
        resolved_at: None,
        resolution: None,
        escalation_count: 1,
        all_alerts_resolved_at: Some(all_resolved_at),
        opening_reason: json!({
            "key": "web01|HighCPU",
            "window_minutes": 15,
            "decision": { "kind": "opened" },
            "explanation": "no open incident with key web01|HighCPU in the last 15 minutes",
        }),
        last_event_at: all_resolved_at,
        opened_position: positions[0],
        last_position: positions[12],
        flapping: false,
        flapping_since: None,
        flapping_reason: None,
        flapping_count: 0,
    };
    assert_eq!(row, expected);
    // Membership, in attach order and in resolution order.
    let alerts = incidents::alert_ids(history.db.pool(), *incident_id.as_uuid())
        .await
        .unwrap();
    let both = vec![*first.as_uuid(), *second.as_uuid()];
    assert_eq!(alerts.alert_ids, both);
    assert_eq!(alerts.resolved_alert_ids, both);
    let members: Vec<IncidentAlertRow> = rows(
        history.db.pool(),
        &format!(
            "SELECT to_jsonb(t) FROM incident_alerts t WHERE incident_id = '{incident_id}' ORDER BY attached_position"
        ),
    )
    .await;
    assert_eq!(members.len(), 2);
    assert_eq!(members[0].attached_position, positions[0]);
    assert_eq!(members[0].attached_at, opened_at);
    assert!(members
        .iter()
        .all(|m| m.resolved_position.is_some_and(|p| p > m.attached_position)));
    assert_eq!(
        members[1].resolved_at,
        Some(all_resolved_at),
        "resolved when its source said so"
    );

    let timeline = history.timeline(incident_id).await;
    let entries: Vec<(i64, &str, Option<&str>)> = timeline
        .iter()
        .map(|e| (e.position, e.event_type.as_str(), e.actor.as_deref()))
        .collect();
    let correlator = Some("worker:correlator");
    let user = Some("user:u-7");
    let tool = Some("api_key:k-1");
    let kinds = [
        ("IncidentOpened", correlator),
        ("IncidentAssigned", user),
        ("IncidentAcknowledged", user),
        ("IncidentCommented", user),
        ("IncidentEscalated", user),
        ("IncidentResolved", user),
        ("IncidentReopened", user),
        ("IncidentAcknowledged", user),
        ("AlertAttached", correlator),
        ("PriorityChanged", correlator),
        ("IncidentAlertResolved", tool),
        ("IncidentAlertResolved", tool),
        ("AllAlertsResolved", tool),
    ];
    let expected_entries: Vec<(i64, &str, Option<&str>)> = positions
        .iter()
        .zip(kinds)
        .map(|(p, (kind, actor))| (*p, kind, actor))
        .collect();
    assert_eq!(entries, expected_entries);

    let summaries: Vec<&str> = timeline.iter().map(|e| e.summary.as_str()).collect();
    assert_eq!(
        summaries[0],
        format!(
            "Incident opened for alert {first} (high, priority 60): no open incident with key web01|HighCPU in the last 15 minutes"
        )
    );
    assert_eq!(summaries[1], "Assigned to u-9 by Grace (u-7)");
    assert_eq!(summaries[2], "Acknowledged by Grace (u-7)");
    assert_eq!(
        summaries[3],
        "Grace (u-7) commented: disk is fine, CPU is not"
    );
    assert_eq!(summaries[5], "Resolved by Grace (u-7): restarted");
    assert_eq!(
        summaries[8],
        format!("Alert {second} attached: open incident with key web01|HighCPU within 15 minutes")
    );
    assert_eq!(
        summaries[9],
        format!("Priority changed from 60 to 72: alert {second} attached")
    );
    assert_eq!(
        timeline[8].correlation_reason(),
        Some(&json!({
            "key": "web01|HighCPU",
            "window_minutes": 15,
            "decision": { "kind": "attached", "to": incident_id },
            "explanation": "open incident with key web01|HighCPU within 15 minutes",
        }))
    );
    assert_eq!(timeline[8].details["alert_id"], json!(second));
    assert_eq!(timeline[8].details["tool_source"], "prometheus");
    assert!(timeline[0].correlation_reason().is_some());
    assert!(timeline[1].correlation_reason().is_none());
}

#[tokio::test]
async fn a_resolution_records_how_and_by_whom_until_the_incident_is_reopened() {
    let history = History::new().await;
    let tenant = TenantId::new_v7();
    let runner = history.runner(Arc::new(IncidentsProjection), 1_000);
    let incident_id = history.open(tenant, AlertId::new_v7(), "web01", 90).await;
    let execution_id = ExecutionId::new_v7();
    history.tick(5);
    let resolved_at = history.now();
    let resolve = IncidentCommand::ResolveIncident {
        actor: technician(),
        note: None,
        resolution: Resolution::SelfHealed { execution_id },
    };
    history.incident(incident_id, resolve, "worker:ssm").await;
    history.catch_up(&runner, incident_types()).await;

    let row = history.incident_row(incident_id).await;
    assert_eq!(row.status, IncidentStatus::Resolved);
    assert_eq!(row.resolved_at, Some(resolved_at));
    assert_eq!(
        row.resolution,
        Some(json!({
            "kind": "self_healed",
            "execution_id": execution_id,
            "resolved_by": { "user_id": "u-7", "name": "Grace", "role": "technician" },
            "note": null,
        }))
    );
    let timeline = history.timeline(incident_id).await;
    assert_eq!(
        timeline[1].summary,
        format!("Resolved as self-healed by execution {execution_id} (Grace (u-7))")
    );

    history.tick(1);
    let reopen = IncidentCommand::ReopenIncident {
        actor: technician(),
        reason: Some(Note::parse("came back").unwrap()),
    };
    history.incident(incident_id, reopen, "user:u-7").await;
    history.catch_up(&runner, incident_types()).await;
    let row = history.incident_row(incident_id).await;
    assert_eq!(
        (row.status, row.resolved_at, row.resolution),
        (IncidentStatus::New, None, None)
    );
}

#[tokio::test]
async fn an_event_that_cannot_be_applied_stops_the_projector_at_its_position() {
    let history = History::new().await;
    let tenant = TenantId::new_v7();
    let (fine, receipt) = history.receipt(
        tenant,
        "d-1",
        "web01",
        Severity::High,
        "prometheus",
        AlertStatus::Firing,
    );
    // An acknowledgement of an alert that was never received, stored in the
    // same transaction as a good receipt, so both are in one batch.
    let orphan = AlertId::new_v7();
    let event = AlertEvent::AlertAcknowledged {
        tenant_id: tenant,
        actor: technician(),
        note: None,
        at: history.now(),
    };
    let orphan_row = raw_row(orphan, &event, &EventMetadata::default());
    append_receipts(history.db.pool(), "Alert", &[receipt, orphan_row])
        .await
        .unwrap();
    let bad_position = history.positions(orphan).await[0];

    let runner = history.runner(Arc::new(AlertsProjection), 1_000);
    let deadline = Instant::now() + Duration::from_secs(30);
    let error = loop {
        match runner.catch_up().await {
            Err(error) => break error,
            Ok(_) => {
                assert!(
                    Instant::now() < deadline,
                    "the projector never reached the bad event"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    match &error {
        ConsumerError::Event {
            position,
            event_type,
            reason,
        } => {
            assert_eq!(*position, bad_position);
            assert_eq!(event_type, "AlertAcknowledged");
            assert!(reason.contains("never received"), "{reason}");
        }
        other => panic!("expected an event error, got {other:?}"),
    }
    assert!(error
        .to_string()
        .contains(&format!("position {bad_position}")));
    // The batch that held it was not applied at all, the good receipt included.
    assert_eq!(history.alert_rows().await, []);

    // Running for real, it stops, says where, and records it.
    let (task, mut state) = runner.clone().spawn();
    let message = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if let RunnerState::Failed(message) = &*state.borrow_and_update() {
                return message.clone();
            }
            state.changed().await.unwrap();
        }
    })
    .await
    .expect("the runner stops on the event");
    assert!(
        message.contains(&format!("position {bad_position}")),
        "{message}"
    );
    // It stays stopped on that event (retrying only it, on appends) until an
    // operator quarantines it; nothing moved past it meanwhile.
    assert!(!task.is_finished());
    task.abort();
    let checkpoint = Checkpoint::find(history.db.pool(), "alerts")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(checkpoint.failed_position, Some(bad_position));
    assert_eq!(checkpoint.events_applied, 0);

    // The incidents projection refuses an alert attached to an incident never opened.
    let incident_id = IncidentId::new_v7();
    let attached = alertledger_domain::incident::IncidentEvent::AlertAttached {
        tenant_id: tenant,
        alert_id: fine,
        reason: reason("k", CorrelationDecision::Attached { to: incident_id }, "x"),
        tool_source: ToolSource::parse("zabbix").unwrap(),
        at: history.now(),
    };
    let attached_row = raw_row(incident_id, &attached, &EventMetadata::default());
    append_receipts(history.db.pool(), "Incident", &[attached_row])
        .await
        .unwrap();
    let attached_position = history.positions(incident_id).await[0];
    let incidents = history.runner(Arc::new(IncidentsProjection), 1_000);
    let deadline = Instant::now() + Duration::from_secs(30);
    let error = loop {
        match incidents.catch_up().await {
            Err(error) => break error,
            Ok(_) => {
                assert!(
                    Instant::now() < deadline,
                    "the projector never reached the bad event"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    assert!(
        matches!(error, ConsumerError::Event { position, .. } if position == attached_position),
        "{error}"
    );
}

/// A mixed history: two tenants, alerts received, acknowledged, correlated and
/// resolved, incidents opened, attached to, worked and resolved.
async fn write_history(history: &History, between_phases: Option<&SmallBatches<'_>>) {
    let (a, b) = (TenantId::new_v7(), TenantId::new_v7());
    let mut incidents = Vec::new();
    for (n, tenant) in [a, b, a].into_iter().enumerate() {
        let asset = format!("host{n}");
        let first = history
            .receive(
                tenant,
                &format!("d-{n}-1"),
                &asset,
                Severity::High,
                "zabbix",
                AlertStatus::Firing,
            )
            .await;
        let second = history
            .receive(
                tenant,
                &format!("d-{n}-2"),
                &asset,
                Severity::Medium,
                "prometheus",
                AlertStatus::Firing,
            )
            .await;
        history.tick(1);
        let incident_id = history.open(tenant, first, &asset, 60 + n as i64).await;
        let key = format!("{asset}|HighCPU");
        for alert in [first, second] {
            let correlate = AlertCommand::CorrelateAlert {
                incident_id,
                reason: reason(&key, CorrelationDecision::Opened, "decided"),
            };
            history.alert(alert, correlate, "worker:correlator").await;
        }
        history
            .attach(incident_id, second, &key, "prometheus", Some(70 + n as i64))
            .await;
        if let Some(phases) = between_phases {
            phases.run().await;
        }
        incidents.push((incident_id, first, second));
    }
    for (n, (incident_id, first, second)) in incidents.into_iter().enumerate() {
        history.tick(2);
        let acknowledge = IncidentCommand::AcknowledgeIncident {
            actor: technician(),
        };
        history.incident(incident_id, acknowledge, "user:u-7").await;
        let acknowledge = AlertCommand::AcknowledgeAlert {
            actor: technician(),
            note: None,
        };
        history.alert(first, acknowledge, "user:u-7").await;
        if n != 1 {
            let resolve = AlertCommand::ResolveAlertFromSource {
                resolved_at: history.now(),
                delivery_key: None,
            };
            history.alert(second, resolve, "api_key:k-1").await;
            let recorded = IncidentCommand::RecordAlertResolved { alert_id: second };
            history.incident(incident_id, recorded, "api_key:k-1").await;
            let resolve = IncidentCommand::ResolveIncident {
                actor: technician(),
                note: Some(Note::parse("fixed").unwrap()),
                resolution: Resolution::Manual,
            };
            history.incident(incident_id, resolve, "user:u-7").await;
        }
        if let Some(phases) = between_phases {
            phases.run().await;
        }
    }
}

#[tokio::test]
async fn a_rebuild_gives_tables_equal_row_for_row_to_the_live_ones() {
    let history = History::new().await;
    write_history(&history, None).await;
    let alerts = history.runner(Arc::new(AlertsProjection), 1_000);
    let incidents = history.runner(Arc::new(IncidentsProjection), 1_000);
    history.catch_up(&alerts, ALERT_TYPES).await;
    history.catch_up(&incidents, incident_types()).await;
    let live = snapshot(history.db.pool(), "public").await;
    assert_eq!(live["alerts"].as_array().unwrap().len(), 6);
    assert_eq!(live["incidents"].as_array().unwrap().len(), 3);
    assert_eq!(
        live["incident_timeline"].as_array().unwrap().len(),
        3 * 3 + 3 + 2 * 2
    );

    // Small batches, so rows are loaded back and folded across transactions.
    for projection in [
        Arc::new(AlertsProjection) as Arc<dyn LogConsumer>,
        Arc::new(IncidentsProjection),
    ] {
        let report = rebuild_live(history.db.pool(), projection, Some(3))
            .await
            .unwrap();
        assert!(report.events > 0);
    }
    assert_eq!(snapshot(history.db.pool(), "public").await, live);

    // Both from one pass over the log, swapped in one after the other.
    let both = || {
        vec![
            Arc::new(AlertsProjection) as Arc<dyn LogConsumer>,
            Arc::new(IncidentsProjection),
        ]
    };
    let reports = rebuild_all_live(history.db.pool(), both(), Some(4))
        .await
        .unwrap();
    assert_eq!(reports.len(), 2);
    assert_eq!(snapshot(history.db.pool(), "public").await, live);

    // Staging that holds one row per table: every batch writes its rows
    // early, later batches load them back from the shadow table and upsert.
    let schema = scratch_schema("staged");
    let options = HistoryOptions {
        batch_size: Some(2),
        staging_limit: Some(1),
        ..HistoryOptions::default()
    };
    build_history_all(history.db.pool(), both(), &schema, &options)
        .await
        .unwrap();
    let staged = snapshot(history.db.pool(), &schema).await;
    drop_schema(history.db.pool(), &schema).await;
    assert_eq!(staged, live);

    // History as it stood when the first incident had just been opened.
    let first_incident: Uuid = live["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .min_by_key(|row| row["opened_position"].as_i64())
        .map(|row| serde_json::from_value(row["incident_id"].clone()).unwrap())
        .unwrap();
    let opened_position = history.positions(first_incident).await[0];
    let schema = scratch_schema("asof");
    let options = HistoryOptions {
        until: Some(Until::Position(opened_position)),
        ..HistoryOptions::default()
    };
    build_history(
        history.db.pool(),
        Arc::new(IncidentsProjection),
        &schema,
        &options,
    )
    .await
    .unwrap();
    let past: Vec<(Uuid, String, i16)> = sqlx::query_as(&format!(
        "SELECT incident_id, status, priority_score FROM \"{schema}\".incidents"
    ))
    .fetch_all(history.db.pool())
    .await
    .unwrap();
    drop_schema(history.db.pool(), &schema).await;
    assert_eq!(past, [(first_incident, "new".to_owned(), 60)]);
}

/// Catches both projectors up in batches of two events.
struct SmallBatches<'a> {
    history: &'a History,
    alerts: ConsumerRunner,
    incidents: ConsumerRunner,
}

impl SmallBatches<'_> {
    async fn run(&self) {
        self.history.catch_up(&self.alerts, ALERT_TYPES).await;
        self.history
            .catch_up(&self.incidents, incident_types())
            .await;
    }
}

#[tokio::test]
async fn a_history_applied_in_many_small_batches_gives_the_rows_of_one_big_batch() {
    let history = History::new().await;
    let phases = SmallBatches {
        history: &history,
        alerts: history.runner(Arc::new(AlertsProjection), 2),
        incidents: history.runner(Arc::new(IncidentsProjection), 2),
    };
    write_history(&history, Some(&phases)).await;
    let in_small_batches = snapshot(history.db.pool(), "public").await;
    assert_eq!(in_small_batches["incidents"].as_array().unwrap().len(), 3);

    // The whole log again, each projection in one batch.
    for projection in [
        Arc::new(AlertsProjection) as Arc<dyn LogConsumer>,
        Arc::new(IncidentsProjection),
    ] {
        rebuild_live(history.db.pool(), projection, Some(100_000))
            .await
            .unwrap();
    }
    assert_eq!(
        snapshot(history.db.pool(), "public").await,
        in_small_batches
    );
}
