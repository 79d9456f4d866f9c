//! The audit and KPI read models against real events in a fresh database:
//! KPI arithmetic checked against a hand-computed scenario, audit entries of
//! configuration changes, rebuilds equal to what was live, and KPIs as of a
//! past time equal to what was live then.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use alertledger_domain::alert::AlertEvent;
use alertledger_domain::approval::{Approval, ApprovalCommand};
use alertledger_domain::incident::{Incident, IncidentCommand, Resolution};
use alertledger_domain::runbook::{RunbookContent, RunbookPin};
use alertledger_domain::tenant::{Tenant, TenantCommand};
use alertledger_domain::values::{
    Actor, AggregationKeyTemplate, AlertId, AlertMessage, AlertSignature, AlertStatus, ApiKeyHash,
    ApiKeyId, ApprovalId, AssetName, CorrelationDecision, CorrelationPolicy, CorrelationReason,
    DeliveryKey, ExecutionId, Fingerprint, IncidentId, Labels, Note, PriorityScore, Risk, Role,
    RunbookId, Severity, TenantId, TenantName, TenantSlug, ToolSource, UserId, WebhookSecretId,
    WebhookSource,
};
use alertledger_domain::{DomainServices, FixedClock};
use alertledger_eventstore::consumer::rebuild::rebuild_live;
use alertledger_eventstore::consumer::{
    ConsumerError, ConsumerRunner, LogConsumer, RunnerSettings,
};
use alertledger_eventstore::log::LogSignal;
use alertledger_eventstore::receipts::{append_receipts, ReceiptRow};
use alertledger_eventstore::store::{AggregateStore, EventMetadata};
use alertledger_projections::audit::{self, AuditProjection, AuditQuery};
use alertledger_projections::kpis::{self, KpiProjection, KpiSummary};
use alertledger_schema::TestDatabase;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use cqrs_es::DomainEvent;
use sqlx::PgPool;
use uuid::Uuid;

/// The day of the scenario (D); incident 3 opens on D + 1.
fn day(offset: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 2 + offset).unwrap()
}

fn at(day_offset: u32, hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2 + day_offset, hour, minute, 0)
        .single()
        .unwrap()
}

fn person(id: &str, role: Role) -> Actor {
    Actor::new(UserId::parse(id).unwrap(), format!("Person {id}"), role)
}

/// Aggregate stores whose events take their `at` from one fixed clock.
struct World {
    db: TestDatabase,
    clock: Arc<FixedClock>,
    tenants: AggregateStore<Tenant>,
    incidents: AggregateStore<Incident>,
    approvals: AggregateStore<Approval>,
    /// Tenant T (the scenario) and U (a neighbour that must never count for T).
    t: TenantId,
    u: TenantId,
    i1: IncidentId,
    i2: IncidentId,
    i3: IncidentId,
    approval: ApprovalId,
}

impl World {
    async fn new() -> Self {
        let db = TestDatabase::create().await;
        let clock = Arc::new(FixedClock::new(at(0, 7, 0)));
        let services = DomainServices::new(clock.clone());
        let store = || db.pool().clone();
        Self {
            tenants: AggregateStore::new(store(), services.clone(), LogSignal::local()),
            incidents: AggregateStore::new(store(), services.clone(), LogSignal::local()),
            approvals: AggregateStore::new(store(), services, LogSignal::local()),
            clock,
            db,
            t: TenantId::new_v7(),
            u: TenantId::new_v7(),
            i1: IncidentId::new_v7(),
            i2: IncidentId::new_v7(),
            i3: IncidentId::new_v7(),
            approval: ApprovalId::new_v7(),
        }
    }

    fn pool(&self) -> &PgPool {
        self.db.pool()
    }

    async fn receive_alerts(&self, tenant: TenantId, times: &[DateTime<Utc>]) {
        let rows: Vec<ReceiptRow> = times
            .iter()
            .enumerate()
            .map(|(n, received_at)| {
                let delivery_key = DeliveryKey::parse(&format!("delivery-{n}")).unwrap();
                let alert_id = AlertId::for_delivery(&tenant, &delivery_key);
                let event = AlertEvent::AlertReceived {
                    tenant_id: tenant,
                    alert_id,
                    delivery_key,
                    source: WebhookSource::Alertmanager,
                    asset: AssetName::parse("web01").unwrap(),
                    signature: AlertSignature::parse("HighCPU").unwrap(),
                    severity: Severity::High,
                    message: AlertMessage::parse("CPU above 90%").unwrap(),
                    tool_source: ToolSource::parse("prometheus").unwrap(),
                    status: AlertStatus::Firing,
                    labels: Labels::new([("team".to_owned(), "ops".to_owned())].into()).unwrap(),
                    occurred_at: *received_at,
                    fingerprint: Fingerprint::parse("3f9a1c").unwrap(),
                    asset_known: true,
                    normalization_warnings: Vec::new(),
                    at: *received_at,
                };
                ReceiptRow {
                    aggregate_id: alert_id.to_string(),
                    event_type: event.event_type(),
                    event_version: event.event_version(),
                    payload: serde_json::to_string(&event).unwrap(),
                    metadata: EventMetadata::by("api_key:key-1").to_json_text(),
                }
            })
            .collect();
        append_receipts(self.pool(), "Alert", &rows).await.unwrap();
    }

    async fn incident(
        &self,
        when: DateTime<Utc>,
        id: IncidentId,
        command: IncidentCommand,
        actor: &str,
    ) {
        self.clock.set(when);
        self.incidents
            .execute(&id.to_string(), command, EventMetadata::by(actor))
            .await
            .unwrap();
    }

    async fn open(&self, when: DateTime<Utc>, tenant: TenantId, id: IncidentId) {
        let key = "web01|HighCPU".to_owned();
        let command = IncidentCommand::OpenIncident {
            incident_id: id,
            tenant_id: tenant,
            key: key.clone(),
            first_alert: AlertId::new_v7(),
            asset: AssetName::parse("web01").unwrap(),
            signature: AlertSignature::parse("HighCPU").unwrap(),
            severity: Severity::High,
            priority: PriorityScore::clamped(60),
            reason: CorrelationReason {
                key,
                window_minutes: 15,
                decision: CorrelationDecision::Opened,
                explanation: "no open incident with this key".into(),
            },
            tool_source: ToolSource::parse("prometheus").unwrap(),
        };
        self.incident(when, id, command, "worker:correlator").await;
    }

    async fn acknowledge(&self, when: DateTime<Utc>, id: IncidentId) {
        let command = IncidentCommand::AcknowledgeIncident {
            actor: person("u-7", Role::Technician),
        };
        self.incident(when, id, command, "user:u-7").await;
    }

    async fn escalate(&self, when: DateTime<Utc>, id: IncidentId) {
        let command = IncidentCommand::EscalateIncident {
            reason: Note::parse("needs the database team").unwrap(),
            actor: person("u-7", Role::Technician),
        };
        self.incident(when, id, command, "user:u-7").await;
    }

    async fn resolve(&self, when: DateTime<Utc>, id: IncidentId, resolution: Resolution) {
        let command = IncidentCommand::ResolveIncident {
            actor: person("u-7", Role::Technician),
            note: None,
            resolution,
        };
        self.incident(when, id, command, "user:u-7").await;
    }

    async fn reopen(&self, when: DateTime<Utc>, id: IncidentId) {
        let command = IncidentCommand::ReopenIncident {
            actor: person("u-7", Role::Technician),
            reason: Some(Note::parse("it came back").unwrap()),
        };
        self.incident(when, id, command, "user:u-7").await;
    }

    /// Everything up to the midpoint: 10 alerts and incidents 1 and 2 of T
    /// (1 acknowledged after 300 s and resolved after 3,600 s; 2 escalated
    /// twice, acknowledged after 600 s, resolved after 1,800 s and reopened),
    /// one pending approval; for U one alert and one incident.
    async fn first_half(&self) {
        let alert_times: Vec<_> = (0..10).map(|n| at(0, 7, 50 + n)).collect();
        self.receive_alerts(self.t, &alert_times).await;
        self.receive_alerts(self.u, &[at(0, 7, 55)]).await;
        self.open(at(0, 8, 0), self.u, IncidentId::new_v7()).await;

        self.open(at(0, 8, 0), self.t, self.i1).await;
        self.acknowledge(at(0, 8, 5), self.i1).await;
        self.open(at(0, 8, 10), self.t, self.i2).await;
        self.escalate(at(0, 8, 15), self.i2).await;
        self.acknowledge(at(0, 8, 20), self.i2).await;
        self.escalate(at(0, 8, 30), self.i2).await;
        self.resolve(at(0, 8, 40), self.i2, Resolution::Manual)
            .await;

        self.clock.set(at(0, 8, 45));
        let request = ApprovalCommand::RequestApproval {
            approval_id: self.approval,
            tenant_id: self.t,
            runbook_id: RunbookId::new_v7(),
            incident_id: self.i1,
            risk: Risk::Medium,
            requested_by: person("u-7", Role::Technician),
            expires_at: at(1, 8, 45),
            pin: pin(),
        };
        self.approvals
            .execute(
                &self.approval.to_string(),
                request,
                EventMetadata::by("user:u-7"),
            )
            .await
            .unwrap();

        self.resolve(at(0, 9, 0), self.i1, Resolution::Manual).await;
        self.reopen(at(0, 9, 5), self.i2).await;
    }

    /// The rest: incident 2 self-heals (7,200 s after it opened), the approval
    /// is granted, and incident 3 opens on the next day and stays open.
    async fn second_half(&self) {
        self.clock.set(at(0, 10, 0));
        let grant = ApprovalCommand::GrantApproval {
            approver: person("boss", Role::TenantAdmin),
            reason: None,
            runbook_now: pin(),
        };
        self.approvals
            .execute(
                &self.approval.to_string(),
                grant,
                EventMetadata::by("user:boss"),
            )
            .await
            .unwrap();
        let healed = Resolution::SelfHealed {
            execution_id: ExecutionId::new_v7(),
        };
        self.resolve(at(0, 10, 10), self.i2, healed).await;
        self.open(at(1, 0, 30), self.t, self.i3).await;
    }

    /// Applies every committed event to `projection`'s live tables.
    async fn project(&self, projection: Arc<dyn LogConsumer>) {
        project_with(self.pool(), projection, RunnerSettings::default())
            .await
            .unwrap();
    }

    async fn project_kpis(&self) {
        self.project(Arc::new(KpiProjection)).await;
    }

    async fn summary_of_t(&self) -> KpiSummary {
        kpis::summary(self.pool(), Some(&[*self.t.as_uuid()]), day(0), day(1))
            .await
            .unwrap()
    }
}

/// Waits until every committed event is readable in the log (older
/// transactions anywhere in the cluster hold the horizon back), then applies
/// them all.
async fn project_with(
    pool: &PgPool,
    projection: Arc<dyn LogConsumer>,
    settings: RunnerSettings,
) -> Result<usize, ConsumerError> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let unreadable: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM events
                             WHERE transaction_id >= pg_snapshot_xmin(pg_current_snapshot()))",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        if !unreadable {
            break;
        }
        assert!(Instant::now() < deadline, "events never became readable");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    ConsumerRunner::new(pool.clone(), LogSignal::local(), projection, settings)
        .catch_up()
        .await
}

/// Every row of `table`, as JSON, in a stable order.
async fn rows_of(pool: &PgPool, table: &str, order: &str) -> Vec<serde_json::Value> {
    sqlx::query_scalar(&format!(
        "SELECT to_jsonb(t) FROM {table} t ORDER BY {order}"
    ))
    .fetch_all(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn kpis_match_a_hand_computed_scenario_with_a_reopen_and_a_self_healed_resolution() {
    let world = World::new().await;
    world.first_half().await;
    world.project_kpis().await;

    // After the reopen, incident 2's resolution no longer counts.
    let mid = world.summary_of_t().await;
    assert_eq!(mid.alerts, 10);
    assert_eq!(mid.incidents, 2);
    assert_eq!(mid.noise_reduction_pct, Some(80.0));
    assert_eq!(mid.acknowledged, 2);
    assert_eq!(mid.mtta_seconds, Some(450.0), "(300 + 600) / 2");
    assert_eq!(mid.resolved, 1);
    assert_eq!(
        mid.mttr_seconds,
        Some(3_600.0),
        "only incident 1 stands resolved"
    );
    assert_eq!(mid.auto_remediated, 0);
    assert_eq!(mid.escalations, 1, "escalated twice, counted once");
    assert_eq!(mid.approvals_pending, 1);

    world.second_half().await;
    world.project_kpis().await;

    let summary = world.summary_of_t().await;
    assert_eq!(summary.alerts, 10);
    assert_eq!(summary.incidents, 3);
    assert_eq!(summary.noise_reduction_pct, Some(70.0), "(1 - 3/10) x 100");
    assert_eq!(summary.acknowledged, 2);
    assert_eq!(summary.mtta_seconds, Some(450.0));
    assert_eq!(summary.resolved, 2);
    assert_eq!(
        summary.mttr_seconds,
        Some(5_400.0),
        "(3,600 + 7,200) / 2: incident 2 from opening to its latest resolution"
    );
    assert_eq!(summary.auto_remediated, 1);
    assert_eq!(summary.escalations, 1);
    assert_eq!(summary.approvals_pending, 0);
    assert_eq!(summary.as_of, None);

    // Incident metrics count on the day the incident opened.
    let days: Vec<_> = summary
        .days
        .iter()
        .map(|d| (d.day, d.alerts, d.incidents, d.resolved, d.mttr_seconds))
        .collect();
    assert_eq!(
        days,
        [(day(0), 10, 2, 2, Some(5_400.0)), (day(1), 0, 1, 0, None)]
    );
    assert_eq!(summary.days[0].noise_reduction_pct, Some(80.0));
    assert_eq!(summary.days[1].noise_reduction_pct, None);
    assert_eq!(summary.days[1].mtta_seconds, None);

    let first_day = kpis::summary(world.pool(), Some(&[*world.t.as_uuid()]), day(0), day(0))
        .await
        .unwrap();
    assert_eq!(
        (first_day.incidents, first_day.noise_reduction_pct),
        (2, Some(80.0))
    );

    let neighbour = kpis::summary(world.pool(), Some(&[*world.u.as_uuid()]), day(0), day(1))
        .await
        .unwrap();
    assert_eq!(
        (neighbour.alerts, neighbour.incidents, neighbour.resolved),
        (1, 1, 0)
    );
    let everyone = kpis::summary(world.pool(), None, day(0), day(1))
        .await
        .unwrap();
    assert_eq!((everyone.alerts, everyone.incidents), (11, 4));
    let nobody = kpis::summary(world.pool(), Some(&[]), day(0), day(1))
        .await
        .unwrap();
    assert_eq!((nobody.alerts, nobody.noise_reduction_pct), (0, None));
}

#[tokio::test]
async fn summary_as_of_a_midpoint_equals_the_summary_captured_live_then_and_leaves_no_schema() {
    let world = World::new().await;
    world.first_half().await;
    world.project_kpis().await;
    let live_then = world.summary_of_t().await;
    // Every first-half transaction started before this; every later one after.
    let as_of: DateTime<Utc> = sqlx::query_scalar("SELECT clock_timestamp()")
        .fetch_one(world.pool())
        .await
        .unwrap();

    world.second_half().await;
    world.project_kpis().await;
    let live_now = world.summary_of_t().await;
    assert_ne!(live_now, live_then, "the second half changes the KPIs");

    let past = kpis::summary_as_of(
        world.pool(),
        Some(&[*world.t.as_uuid()]),
        day(0),
        day(1),
        as_of,
    )
    .await
    .unwrap();
    assert_eq!(past.as_of, Some(as_of));
    assert_eq!(
        KpiSummary {
            as_of: None,
            ..past
        },
        live_then
    );

    let leftovers: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'kpis_as_of%'")
            .fetch_one(world.pool())
            .await
            .unwrap();
    assert_eq!(leftovers, 0, "the scratch schema is dropped");
}

#[tokio::test]
async fn rebuild_live_gives_tables_equal_row_for_row_to_the_live_ones() {
    let world = World::new().await;
    world.first_half().await;
    world.second_half().await;
    // Live in batches of one event, so every incident's events span batches;
    // the rebuild applies everything in one.
    let one_by_one = RunnerSettings {
        batch_size: 1,
        ..RunnerSettings::default()
    };
    for projection in [
        Arc::new(KpiProjection) as Arc<dyn LogConsumer>,
        Arc::new(AuditProjection),
    ] {
        project_with(world.pool(), projection, one_by_one.clone())
            .await
            .unwrap();
    }
    let tables = [
        ("kpi_daily", "tenant_id, day"),
        ("kpi_incidents", "incident_id"),
        ("audit_entries", "position"),
    ];
    let mut live = Vec::new();
    for (table, order) in tables {
        let rows = rows_of(world.pool(), table, order).await;
        assert!(!rows.is_empty(), "{table} has rows");
        live.push(rows);
    }

    rebuild_live(world.pool(), Arc::new(KpiProjection), None)
        .await
        .unwrap();
    rebuild_live(world.pool(), Arc::new(AuditProjection), None)
        .await
        .unwrap();

    for ((table, order), live) in tables.into_iter().zip(live) {
        assert_eq!(rows_of(world.pool(), table, order).await, live, "{table}");
    }
}

#[tokio::test]
async fn an_acknowledgement_of_an_incident_never_opened_stops_the_kpis_projector() {
    let db = TestDatabase::create().await;
    let tenant = Uuid::now_v7();
    let stray = ReceiptRow {
        aggregate_id: Uuid::now_v7().to_string(),
        event_type: "IncidentAcknowledged".into(),
        event_version: "1.0".into(),
        payload: serde_json::json!({ "IncidentAcknowledged": {
            "tenant_id": tenant,
            "actor": { "user_id": "u-7", "name": "Grace", "role": "technician" },
            "at": "2026-11-02T08:05:00Z"
        }})
        .to_string(),
        metadata: "{}".into(),
    };
    append_receipts(db.pool(), "Incident", &[stray])
        .await
        .unwrap();

    let error = project_with(
        db.pool(),
        Arc::new(KpiProjection),
        RunnerSettings::default(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&error, ConsumerError::Event { reason, .. } if reason.contains("never opened")),
        "{error}"
    );
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM kpi_daily")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(rows, 0, "nothing of the batch was written");
}

#[tokio::test]
async fn configuration_changes_are_audited_with_their_actor_and_without_secrets() {
    let world = World::new().await;
    let tenant = world.t;
    let id = tenant.to_string();
    let admin = person("admin-1", Role::MspAdmin);
    let key_hash = "c0ffee".repeat(10) + "beef";
    world.clock.set(at(0, 9, 0));
    world
        .tenants
        .execute(
            &id,
            TenantCommand::RegisterTenant {
                tenant_id: tenant,
                name: TenantName::parse("Acme").unwrap(),
                slug: TenantSlug::parse("acme").unwrap(),
            },
            EventMetadata::by("cli:root"),
        )
        .await
        .unwrap();
    world.clock.set(at(0, 9, 1));
    // No actor in the metadata: the payload's actor is used.
    world
        .tenants
        .execute(
            &id,
            TenantCommand::IssueApiKey {
                key_id: ApiKeyId::new_v7(),
                hash: ApiKeyHash::parse(&key_hash).unwrap(),
                label: None,
                actor: admin.clone(),
            },
            EventMetadata::default(),
        )
        .await
        .unwrap();
    world
        .tenants
        .execute(
            &id,
            TenantCommand::AddWebhookSecret {
                secret_id: WebhookSecretId::new_v7(),
                actor: admin.clone(),
            },
            EventMetadata::by("user:admin-1"),
        )
        .await
        .unwrap();
    let policy = CorrelationPolicy::new(
        30,
        AggregationKeyTemplate::parse("asset|signature").unwrap(),
        true,
        2,
        false,
    )
    .unwrap();
    world.clock.set(at(0, 9, 30));
    world
        .tenants
        .execute(
            &id,
            TenantCommand::ChangeCorrelationPolicy {
                policy,
                actor: person("ta-2", Role::TenantAdmin),
            },
            EventMetadata::by("user:ta-2"),
        )
        .await
        .unwrap();
    world.project(Arc::new(AuditProjection)).await;

    let page = audit::list(
        world.pool(),
        &AuditQuery {
            tenants: Some(vec![*tenant.as_uuid()]),
            ..AuditQuery::default()
        },
    )
    .await
    .unwrap();
    let entries: Vec<_> = page
        .items
        .iter()
        .map(|e| (e.actor.as_str(), e.action.as_str(), e.target.as_str()))
        .collect();
    let target = format!("tenant:{tenant}");
    assert_eq!(
        entries,
        [
            ("user:ta-2", "correlation_policy_changed", target.as_str()),
            ("user:admin-1", "webhook_secret_added", target.as_str()),
            ("user:admin-1", "api_key_issued", target.as_str()),
            ("cli:root", "tenant_registered", target.as_str()),
        ],
        "newest first"
    );
    assert_eq!(page.next_cursor, None);
    let policy_change = &page.items[0];
    assert_eq!(policy_change.at, at(0, 9, 30), "the event's own time");
    assert_eq!(policy_change.details["policy"]["time_window_minutes"], 30);
    assert_eq!(policy_change.details["actor"]["user_id"], "ta-2");

    let issued = &page.items[2];
    assert!(issued.details.get("key_id").is_some());
    assert!(issued.details.get("key_hash").is_none());
    let leaks: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_entries a WHERE to_jsonb(a)::text LIKE $1")
            .bind(format!("%{key_hash}%"))
            .fetch_one(world.pool())
            .await
            .unwrap();
    assert_eq!(leaks, 0, "the API key hash is nowhere in the audit trail");

    let by_admin = audit::list(
        world.pool(),
        &AuditQuery {
            actor: Some("user:admin-1".into()),
            action: Some("api_key_issued".into()),
            ..AuditQuery::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(by_admin.items.len(), 1);
    assert_eq!(by_admin.items[0].position, issued.position);
}

/// The runbook content the approval of these tests pins.
fn pin() -> RunbookPin {
    RunbookPin::new(
        1,
        RunbookContent {
            document: "AWS-RunShellScript".to_owned(),
            commands: vec!["systemctl restart app".to_owned()],
            parameters: Default::default(),
            risk: Risk::Medium,
            instance_ids: Vec::new(),
        },
    )
}
