//! The correlator against a real database: rules, restarts and races.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use alertledger_domain::alert::{Alert, AlertCommand};
use alertledger_domain::incident::{Incident, IncidentCommand, IncidentStatus, Resolution};
use alertledger_domain::tenant::{Tenant, TenantCommand};
use alertledger_domain::values::{
    Actor, AggregationKeyTemplate, AlertId, AlertMessage, AlertSignature, AlertStatus, AssetName,
    CorrelationPolicy, DeliveryKey, Fingerprint, IncidentId, Labels, Role, Severity, TenantId,
    TenantName, TenantSlug, ToolSource, UserId, WebhookSource,
};
use alertledger_domain::{DomainServices, FixedClock};
use alertledger_eventstore::consumer::{wait_until_applied, ConsumerRunner, RunnerSettings};
use alertledger_eventstore::log::LogSignal;
use alertledger_eventstore::receipts::{append_receipts, ReceiptRow};
use alertledger_eventstore::store::{AggregateStore, EventMetadata};
use alertledger_eventstore::unit_of_work::UnitOfWork;
use alertledger_schema::TestDatabase;
use alertledger_workers::correlator::Correlator;
use chrono::{DateTime, Duration, TimeZone, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use uuid::Uuid;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap()
}

struct World {
    db: TestDatabase,
    clock: Arc<FixedClock>,
    tenant: TenantId,
}

impl World {
    async fn new() -> Self {
        let db = TestDatabase::create().await;
        let clock = Arc::new(FixedClock::new(t0()));
        let world = Self {
            db,
            clock,
            tenant: TenantId::new_v7(),
        };
        world
            .tenant_command(TenantCommand::RegisterTenant {
                tenant_id: world.tenant,
                name: TenantName::parse("acme").unwrap(),
                slug: TenantSlug::parse("acme").unwrap(),
            })
            .await;
        world
    }

    fn services(&self) -> DomainServices {
        DomainServices::new(self.clock.clone())
    }

    async fn tenant_command(&self, command: TenantCommand) {
        let store: AggregateStore<Tenant> =
            AggregateStore::new(self.db.pool().clone(), self.services(), LogSignal::local());
        store
            .execute(
                &self.tenant.to_string(),
                command,
                EventMetadata::by("user:admin"),
            )
            .await
            .unwrap();
    }

    async fn set_policy(&self, window: u32, key: &str, auto: bool, min: u32, auto_resolve: bool) {
        let policy = CorrelationPolicy::new(
            window,
            AggregationKeyTemplate::parse(key).unwrap(),
            auto,
            min,
            auto_resolve,
        )
        .unwrap();
        self.tenant_command(TenantCommand::ChangeCorrelationPolicy {
            policy,
            actor: admin(),
        })
        .await;
    }

    /// Stores a receipt as the webhook path does, received at `at`.
    async fn receive(
        &self,
        asset: &str,
        signature: &str,
        severity: Severity,
        tool: &str,
        at: DateTime<Utc>,
    ) -> AlertId {
        self.clock.set(at);
        let alert_id = AlertId::new_v7();
        let command = AlertCommand::ReceiveAlert {
            alert_id,
            tenant_id: self.tenant,
            delivery_key: DeliveryKey::parse(&alert_id.to_string()).unwrap(),
            source: WebhookSource::Generic,
            asset: AssetName::parse(asset).unwrap(),
            signature: AlertSignature::parse(signature).unwrap(),
            severity,
            message: AlertMessage::parse("something is wrong").unwrap(),
            tool_source: ToolSource::parse(tool).unwrap(),
            status: AlertStatus::Firing,
            labels: Labels::default(),
            occurred_at: at,
            fingerprint: Fingerprint::parse(&format!("{asset}/{signature}")).unwrap(),
            asset_known: false,
            normalization_warnings: Vec::new(),
        };
        let mut alert = Alert::default();
        let sink = EventSink::default();
        alert
            .handle(command, &self.services(), &sink)
            .await
            .unwrap();
        let rows: Vec<ReceiptRow> = sink
            .collect()
            .await
            .into_iter()
            .map(|event| ReceiptRow {
                aggregate_id: alert_id.to_string(),
                event_type: event.event_type(),
                event_version: event.event_version(),
                payload: serde_json::to_string(&event).unwrap(),
                metadata: "{}".to_owned(),
            })
            .collect();
        append_receipts(self.db.pool(), "Alert", &rows)
            .await
            .unwrap();
        alert_id
    }

    fn runner(&self, batch_size: usize) -> ConsumerRunner {
        ConsumerRunner::new(
            self.db.pool().clone(),
            LogSignal::local(),
            Arc::new(Correlator::new(self.services())),
            RunnerSettings {
                batch_size,
                ..RunnerSettings::default()
            },
        )
    }

    /// Runs the correlator until it has passed every event written so far.
    /// (The log horizon is cluster-wide: other tests' open transactions can
    /// hold it back for a moment, so one catch-up may not see everything yet.)
    async fn correlate(&self) {
        self.correlate_with(self.runner(1_000)).await;
    }

    async fn correlate_with(&self, runner: ConsumerRunner) {
        let last: i64 = sqlx::query_scalar("SELECT coalesce(max(position), 0) FROM events")
            .fetch_one(self.db.pool())
            .await
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            runner.catch_up().await.unwrap();
            let done = wait_until_applied(
                self.db.pool(),
                Correlator::NAME,
                last,
                std::time::Duration::ZERO,
            )
            .await
            .unwrap();
            if done {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the correlator never caught up"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Every incident of the tenant with its alerts, in opening order.
    async fn incidents(&self) -> Vec<(IncidentId, Vec<AlertId>)> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT aggregate_id FROM events WHERE event_type = 'IncidentOpened' AND tenant_id = $1 ORDER BY position",
        )
        .bind(Uuid::from(self.tenant))
        .fetch_all(self.db.pool())
        .await
        .unwrap();
        let mut conn = self.db.pool().acquire().await.unwrap();
        let loaded = UnitOfWork::default()
            .load::<Incident>(&mut conn, &ids)
            .await
            .unwrap();
        ids.iter()
            .map(|id| {
                let incident = &loaded[id].state;
                let mut alerts: Vec<AlertId> = incident.alert_ids().collect();
                alerts.sort();
                (incident.incident_id().unwrap(), alerts)
            })
            .collect()
    }

    async fn incident(&self, id: IncidentId) -> Incident {
        let store: AggregateStore<Incident> =
            AggregateStore::new(self.db.pool().clone(), self.services(), LogSignal::local());
        store.load(&id.to_string()).await.unwrap()
    }

    async fn reasons_of(&self, alert: AlertId) -> Vec<serde_json::Value> {
        sqlx::query_scalar(
            "SELECT payload->'AlertCorrelated'->'reason' FROM events
              WHERE aggregate_type = 'Alert' AND aggregate_id = $1 AND event_type = 'AlertCorrelated'",
        )
        .bind(alert.to_string())
        .fetch_all(self.db.pool())
        .await
        .unwrap()
    }
}

fn admin() -> Actor {
    Actor::new(UserId::parse("admin").unwrap(), "Admin", Role::TenantAdmin)
}

fn sorted(mut ids: Vec<AlertId>) -> Vec<AlertId> {
    ids.sort();
    ids
}

#[tokio::test]
async fn alerts_of_one_key_join_while_each_arrives_within_the_window_of_the_previous() {
    let world = World::new().await;
    let a = world
        .receive("web01", "HighCPU", Severity::High, "zabbix", t0())
        .await;
    let b = world
        .receive(
            "web01",
            "HighCPU",
            Severity::High,
            "zabbix",
            t0() + Duration::minutes(10),
        )
        .await;
    // Exactly the window after the previous alert still joins.
    let c = world
        .receive(
            "web01",
            "HighCPU",
            Severity::High,
            "zabbix",
            t0() + Duration::minutes(25),
        )
        .await;
    // One second past the window opens a new incident.
    let d = world
        .receive(
            "web01",
            "HighCPU",
            Severity::High,
            "zabbix",
            t0() + Duration::minutes(40) + Duration::seconds(1),
        )
        .await;
    world.correlate().await;

    let incidents = world.incidents().await;
    assert_eq!(incidents.len(), 2);
    assert_eq!(incidents[0].1, sorted(vec![a, b, c]));
    assert_eq!(incidents[1].1, vec![d]);
    let reason = &world.reasons_of(b).await[0];
    assert_eq!(reason["decision"]["kind"], "attached");
    assert_eq!(reason["key"], "web01|HighCPU");
    assert_eq!(reason["window_minutes"], 15);
    assert_eq!(world.reasons_of(d).await[0]["decision"]["kind"], "opened");
}

#[tokio::test]
async fn the_key_template_decides_which_alerts_group() {
    let world = World::new().await;
    let cpu = world
        .receive("web01", "HighCPU", Severity::High, "zabbix", t0())
        .await;
    let disk = world
        .receive(
            "web01",
            "DiskFull",
            Severity::Medium,
            "prometheus",
            t0() + Duration::minutes(1),
        )
        .await;
    let other_host = world
        .receive(
            "web02",
            "HighCPU",
            Severity::High,
            "zabbix",
            t0() + Duration::minutes(2),
        )
        .await;
    world.set_policy(15, "asset", true, 1, false).await;
    let cpu_again = world
        .receive(
            "web01",
            "HighCPU",
            Severity::High,
            "zabbix",
            t0() + Duration::minutes(3),
        )
        .await;
    let disk_again = world
        .receive(
            "web01",
            "DiskFull",
            Severity::High,
            "zabbix",
            t0() + Duration::minutes(4),
        )
        .await;
    world.correlate().await;

    let incidents = world.incidents().await;
    // asset|signature: three incidents; then "asset": one new incident for web01.
    assert_eq!(incidents.len(), 4);
    assert_eq!(incidents[0].1, vec![cpu]);
    assert_eq!(incidents[1].1, vec![disk]);
    assert_eq!(incidents[2].1, vec![other_host]);
    assert_eq!(incidents[3].1, sorted(vec![cpu_again, disk_again]));
    assert_eq!(world.reasons_of(disk_again).await[0]["key"], "web01");
}

#[tokio::test]
async fn a_policy_change_applies_to_later_alerts_only() {
    let world = World::new().await;
    let early = world
        .receive("db01", "Replication", Severity::Critical, "zabbix", t0())
        .await;
    world.correlate().await;
    let before = world.reasons_of(early).await;

    world.set_policy(60, "signature", true, 1, false).await;
    let later = world
        .receive(
            "db02",
            "Replication",
            Severity::Critical,
            "zabbix",
            t0() + Duration::minutes(30),
        )
        .await;
    world.correlate().await;

    let incidents = world.incidents().await;
    assert_eq!(
        incidents.len(),
        2,
        "the earlier incident keeps its key; the later alert opens its own"
    );
    assert_eq!(incidents[0].1, vec![early]);
    assert_eq!(incidents[1].1, vec![later]);
    assert_eq!(
        world.reasons_of(early).await,
        before,
        "recorded decisions never change"
    );
    let reason = &world.reasons_of(later).await[0];
    assert_eq!(reason["key"], "Replication");
    assert_eq!(reason["window_minutes"], 60);
}

#[tokio::test]
async fn min_alerts_holds_alerts_until_enough_arrive_inside_the_window() {
    let world = World::new().await;
    world
        .set_policy(10, "asset|signature", true, 3, false)
        .await;
    let lone = world
        .receive("web01", "Flap", Severity::Low, "zabbix", t0())
        .await;
    let first = world
        .receive(
            "web01",
            "Flap",
            Severity::Low,
            "zabbix",
            t0() + Duration::minutes(20),
        )
        .await;
    let second = world
        .receive(
            "web01",
            "Flap",
            Severity::Low,
            "zabbix",
            t0() + Duration::minutes(25),
        )
        .await;
    world.correlate().await;
    assert!(
        world.incidents().await.is_empty(),
        "two alerts inside the window are not enough"
    );

    let third = world
        .receive(
            "web01",
            "Flap",
            Severity::Low,
            "zabbix",
            t0() + Duration::minutes(29),
        )
        .await;
    let fourth = world
        .receive(
            "web01",
            "Flap",
            Severity::Low,
            "zabbix",
            t0() + Duration::minutes(31),
        )
        .await;
    world.correlate().await;

    let incidents = world.incidents().await;
    assert_eq!(incidents.len(), 1);
    // The lone alert expired from the window; the fourth joins the open incident.
    assert_eq!(incidents[0].1, sorted(vec![first, second, third, fourth]));
    assert!(world.reasons_of(lone).await.is_empty());
    let opened = &world.reasons_of(first).await[0];
    assert_eq!(opened["decision"]["kind"], "opened");
    assert!(opened["explanation"]
        .as_str()
        .unwrap()
        .contains("min_alerts 3"));
}

#[tokio::test]
async fn without_auto_correlate_alerts_wait_for_a_request() {
    let world = World::new().await;
    world
        .set_policy(15, "asset|signature", false, 1, false)
        .await;
    let a = world
        .receive("web01", "HighCPU", Severity::High, "zabbix", t0())
        .await;
    let b = world
        .receive(
            "web01",
            "HighCPU",
            Severity::High,
            "datadog",
            t0() + Duration::minutes(1),
        )
        .await;
    let c = world
        .receive(
            "web02",
            "HighCPU",
            Severity::High,
            "zabbix",
            t0() + Duration::minutes(2),
        )
        .await;
    world.correlate().await;
    assert!(world.incidents().await.is_empty());

    world
        .tenant_command(TenantCommand::RequestCorrelation { actor: admin() })
        .await;
    world.correlate().await;

    let incidents = world.incidents().await;
    assert_eq!(incidents.len(), 2);
    assert_eq!(incidents[0].1, sorted(vec![a, b]));
    assert_eq!(incidents[1].1, vec![c]);
    // Two tools report web01: +10 on the priority.
    let web01 = world.incident(incidents[0].0).await;
    assert_eq!(web01.priority().unwrap().value(), 60 + 2 + 10);
}

#[tokio::test]
async fn a_resolved_incident_takes_no_more_alerts() {
    let world = World::new().await;
    let first = world
        .receive("web01", "HighCPU", Severity::High, "zabbix", t0())
        .await;
    world.correlate().await;
    let incident = world.incidents().await[0].0;
    let store: AggregateStore<Incident> = AggregateStore::new(
        world.db.pool().clone(),
        world.services(),
        LogSignal::local(),
    );
    store
        .execute(
            &incident.to_string(),
            IncidentCommand::ResolveIncident {
                actor: admin(),
                note: None,
                resolution: Resolution::Manual,
            },
            EventMetadata::by("user:admin"),
        )
        .await
        .unwrap();
    let next = world
        .receive(
            "web01",
            "HighCPU",
            Severity::High,
            "zabbix",
            t0() + Duration::minutes(1),
        )
        .await;
    world.correlate().await;

    let incidents = world.incidents().await;
    assert_eq!(incidents.len(), 2);
    assert_eq!(incidents[0].1, vec![first]);
    assert_eq!(incidents[1].1, vec![next]);
}

#[tokio::test]
async fn source_resolutions_are_noted_and_auto_resolve_closes_the_incident() {
    let world = World::new().await;
    world.set_policy(15, "asset|signature", true, 1, true).await;
    let a = world
        .receive("web01", "HighCPU", Severity::High, "zabbix", t0())
        .await;
    let b = world
        .receive(
            "web01",
            "HighCPU",
            Severity::High,
            "zabbix",
            t0() + Duration::minutes(1),
        )
        .await;
    world.correlate().await;
    let alerts: AggregateStore<Alert> = AggregateStore::new(
        world.db.pool().clone(),
        world.services(),
        LogSignal::local(),
    );
    for alert in [a, b] {
        alerts
            .execute(
                &alert.to_string(),
                AlertCommand::ResolveAlertFromSource {
                    resolved_at: t0() + Duration::minutes(5),
                    delivery_key: None,
                },
                EventMetadata::by("api_key:k"),
            )
            .await
            .unwrap();
        world.correlate().await;
        let incident = world.incident(world.incidents().await[0].0).await;
        let expected = if alert == a {
            IncidentStatus::New
        } else {
            IncidentStatus::Resolved
        };
        assert_eq!(incident.status(), expected);
    }
    let resolution: serde_json::Value = sqlx::query_scalar(
        "SELECT payload->'IncidentResolved'->'resolution' FROM events WHERE event_type = 'IncidentResolved'",
    )
    .fetch_one(world.db.pool())
    .await
    .unwrap();
    assert_eq!(resolution["kind"], "source_resolved");
}

#[tokio::test]
async fn a_restart_resumes_with_no_doubled_decision() {
    let world = World::new().await;
    for minute in 0..30 {
        let signature = if minute % 3 == 0 { "A" } else { "B" };
        world
            .receive(
                "web01",
                signature,
                Severity::Medium,
                "zabbix",
                t0() + Duration::minutes(minute),
            )
            .await;
    }
    // Small batches, each from a new runner: a "process" that stops (is
    // killed) after one batch, until half the alerts are decided.
    let mut applied = 0;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while applied < 14 {
        assert!(
            std::time::Instant::now() < deadline,
            "no batch became readable"
        );
        match world.runner(7).step().await.unwrap() {
            alertledger_eventstore::consumer::Step::Applied { events, .. } => applied += events,
            alertledger_eventstore::consumer::Step::Idle => {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await
            }
        }
    }
    world.correlate_with(world.runner(7)).await;
    let decisions_before: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'AlertCorrelated'")
            .fetch_one(world.db.pool())
            .await
            .unwrap();
    // A fresh process over the same log finds nothing left to decide.
    world.correlate().await;
    let decisions_after: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'AlertCorrelated'")
            .fetch_one(world.db.pool())
            .await
            .unwrap();
    assert_eq!(decisions_before, 30);
    assert_eq!(decisions_after, 30);
    let incidents = world.incidents().await;
    assert_eq!(incidents.len(), 2);
    assert_eq!(incidents[0].1.len() + incidents[1].1.len(), 30);
}

#[tokio::test]
async fn concurrent_correlators_decide_each_alert_once() {
    let world = World::new().await;
    let mut expected = Vec::new();
    for second in 0..100 {
        expected.push(
            world
                .receive(
                    "web01",
                    "HighCPU",
                    Severity::High,
                    "zabbix",
                    t0() + Duration::seconds(second),
                )
                .await,
        );
    }
    // Four "processes" racing over the same log in small batches.
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let runner = world.runner(5);
            tokio::spawn(async move { runner.catch_up().await.unwrap() })
        })
        .collect();
    for run in runs {
        run.await.unwrap();
    }
    world.correlate().await;
    let incidents = world.incidents().await;
    assert_eq!(incidents.len(), 1);
    assert_eq!(incidents[0].1, sorted(expected));
    let decisions: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'AlertCorrelated'")
            .fetch_one(world.db.pool())
            .await
            .unwrap();
    assert_eq!(decisions, 100);
}

#[tokio::test]
async fn a_long_running_correlator_sees_what_people_did_to_its_incidents_meanwhile() {
    let world = World::new().await;
    // One runner (one correlator and its cache of incident states) throughout.
    let runner = world.runner(1_000);
    let first = world
        .receive("web01", "HighCPU", Severity::High, "zabbix", t0())
        .await;
    world.correlate_with(runner.clone()).await;
    let incident = world.incidents().await[0].0;
    let store: AggregateStore<Incident> = AggregateStore::new(
        world.db.pool().clone(),
        world.services(),
        LogSignal::local(),
    );
    let by_person = |command| {
        let store = &store;
        async move {
            store
                .execute(
                    &incident.to_string(),
                    command,
                    EventMetadata::by("user:admin"),
                )
                .await
                .unwrap()
        }
    };
    by_person(IncidentCommand::AcknowledgeIncident { actor: admin() }).await;

    // The cached state is behind the store by one event: the attach must still land.
    let second = world
        .receive(
            "web01",
            "HighCPU",
            Severity::High,
            "zabbix",
            t0() + Duration::minutes(1),
        )
        .await;
    world.correlate_with(runner.clone()).await;
    assert_eq!(world.incidents().await[0].1, sorted(vec![first, second]));

    by_person(IncidentCommand::ResolveIncident {
        actor: admin(),
        note: None,
        resolution: Resolution::Manual,
    })
    .await;
    let third = world
        .receive(
            "web01",
            "HighCPU",
            Severity::High,
            "zabbix",
            t0() + Duration::minutes(2),
        )
        .await;
    world.correlate_with(runner).await;
    let incidents = world.incidents().await;
    assert_eq!(
        incidents.len(),
        2,
        "a resolved incident takes no more alerts"
    );
    assert_eq!(incidents[1].1, vec![third]);
}
