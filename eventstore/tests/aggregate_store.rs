//! cqrs-es and postgres-es on our events table: commands append, state loads
//! back, and a stale writer gets an optimistic-concurrency conflict.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use alertledger_domain::incident::{Incident, IncidentCommand, IncidentStatus};
use alertledger_domain::values::{
    Actor, AlertId, AlertSignature, AssetName, CorrelationDecision, CorrelationReason, IncidentId,
    PriorityScore, Role, Severity, TenantId, ToolSource, UserId,
};
use alertledger_domain::DomainServices;
use alertledger_eventstore::log::LogSignal;
use alertledger_eventstore::store::{AggregateStore, EventMetadata};
use alertledger_schema::TestDatabase;
use cqrs_es::persist::PersistedEventStore;
use cqrs_es::{Aggregate, AggregateError, EventStore};
use postgres_es::PostgresEventRepository;

fn open(incident_id: IncidentId, tenant_id: TenantId) -> IncidentCommand {
    IncidentCommand::OpenIncident {
        incident_id,
        tenant_id,
        key: "web01|HighCPU".into(),
        first_alert: AlertId::new_v7(),
        asset: AssetName::parse("web01").unwrap(),
        signature: AlertSignature::parse("HighCPU").unwrap(),
        severity: Severity::High,
        priority: PriorityScore::clamped(60),
        reason: CorrelationReason {
            key: "web01|HighCPU".into(),
            window_minutes: 15,
            decision: CorrelationDecision::Opened,
            explanation: "no open incident with this key".into(),
        },
        tool_source: ToolSource::parse("zabbix").unwrap(),
    }
}

fn technician() -> Actor {
    Actor::new(UserId::parse("u-7").unwrap(), "Grace", Role::Technician)
}

fn store(db: &TestDatabase) -> AggregateStore<Incident> {
    AggregateStore::new(
        db.pool().clone(),
        DomainServices::system(),
        LogSignal::local(),
    )
}

/// A store with one freshly opened incident.
async fn opened_incident(db: &TestDatabase) -> (AggregateStore<Incident>, IncidentId) {
    let incidents = store(db);
    let incident_id = IncidentId::new_v7();
    let command = open(incident_id, TenantId::new_v7());
    incidents
        .execute(&incident_id.to_string(), command, EventMetadata::default())
        .await
        .unwrap();
    (incidents, incident_id)
}

#[tokio::test]
async fn commands_append_events_that_load_back_into_state_with_metadata() {
    let db = TestDatabase::create().await;
    let incidents = store(&db);
    let (incident_id, tenant_id) = (IncidentId::new_v7(), TenantId::new_v7());
    let id = incident_id.to_string();

    incidents
        .execute(
            &id,
            open(incident_id, tenant_id),
            EventMetadata::by("worker:correlator"),
        )
        .await
        .unwrap();
    let acknowledge = IncidentCommand::AcknowledgeIncident {
        actor: technician(),
    };
    let metadata = EventMetadata {
        request_id: Some("req-1".into()),
        ..EventMetadata::by("user:u-7")
    };
    incidents.execute(&id, acknowledge, metadata).await.unwrap();

    let state = incidents.load(&id).await.unwrap();
    assert_eq!(state.status(), IncidentStatus::Acknowledged);
    assert_eq!(state.tenant_id(), Some(tenant_id));

    // Straight from the table: the log reader's horizon is cluster-wide and
    // other tests' open transactions could delay what it shows.
    let stored: Vec<(String, i64, String, uuid::Uuid, serde_json::Value)> = sqlx::query_as(
        "SELECT event_type, sequence, aggregate_type, tenant_id, metadata FROM events ORDER BY sequence",
    )
    .fetch_all(db.pool())
    .await
    .unwrap();
    let kinds: Vec<(&str, i64, &str)> = stored
        .iter()
        .map(|e| (e.0.as_str(), e.1, e.2.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("IncidentOpened", 1, "Incident"),
            ("IncidentAcknowledged", 2, "Incident")
        ]
    );
    assert!(
        stored.iter().all(|e| e.3 == *tenant_id.as_uuid()),
        "tenant column derived from payload"
    );
    assert_eq!(stored[1].4["actor"], "user:u-7");
    assert_eq!(stored[1].4["request_id"], "req-1");
}

#[tokio::test]
async fn a_rule_violation_is_a_user_error_and_writes_nothing() {
    let db = TestDatabase::create().await;
    let (incidents, incident_id) = opened_incident(&db).await;
    let id = incident_id.to_string();

    let again = incidents
        .execute(
            &id,
            open(incident_id, TenantId::new_v7()),
            EventMetadata::default(),
        )
        .await;
    assert!(
        matches!(again, Err(AggregateError::UserError(_))),
        "{again:?}"
    );
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(count, 1);
}

#[tokio::test]
async fn a_writer_holding_stale_state_gets_an_optimistic_concurrency_conflict() {
    let db = TestDatabase::create().await;
    let (incidents, incident_id) = opened_incident(&db).await;
    let id = incident_id.to_string();

    // A second writer loads the incident at sequence 1 ...
    let raw_store: PersistedEventStore<PostgresEventRepository, Incident> =
        PersistedEventStore::new_event_store(PostgresEventRepository::new(db.pool().clone()));
    let mut stale = raw_store.load_aggregate(&id).await.unwrap();
    // ... the first writer commits sequence 2 ...
    incidents
        .execute(
            &id,
            IncidentCommand::AcknowledgeIncident {
                actor: technician(),
            },
            EventMetadata::default(),
        )
        .await
        .unwrap();
    // ... and the second writer's sequence 2 is refused.
    let sink = cqrs_es::event_sink::EventSink::default();
    let assign = IncidentCommand::AssignIncident {
        assignee: UserId::parse("u-9").unwrap(),
        actor: technician(),
    };
    stale
        .aggregate
        .handle(assign, &DomainServices::system(), &sink)
        .await
        .unwrap();
    let result = raw_store
        .commit(sink.collect().await, stale, HashMap::new())
        .await;
    assert!(
        matches!(result, Err(AggregateError::AggregateConflict)),
        "{result:?}"
    );

    let sequences: Vec<i64> = sqlx::query_scalar("SELECT sequence FROM events ORDER BY sequence")
        .fetch_all(db.pool())
        .await
        .unwrap();
    assert_eq!(sequences, [1, 2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_commands_on_one_aggregate_either_commit_in_sequence_or_conflict() {
    let db = TestDatabase::create().await;
    let (incidents, incident_id) = opened_incident(&db).await;
    let incidents = std::sync::Arc::new(incidents);
    let id = incident_id.to_string();

    let tasks: Vec<_> = (0..24)
        .map(|n| {
            let (incidents, id) = (incidents.clone(), id.clone());
            tokio::spawn(async move {
                let text =
                    alertledger_domain::values::Note::parse(&format!("comment {n}")).unwrap();
                let comment = IncidentCommand::CommentOnIncident {
                    text,
                    actor: technician(),
                };
                incidents
                    .execute(&id, comment, EventMetadata::default())
                    .await
            })
        })
        .collect();
    let (mut committed, mut conflicts) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => committed += 1,
            Err(AggregateError::AggregateConflict) => conflicts += 1,
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }
    assert_eq!(committed + conflicts, 24);
    let sequences: Vec<i64> = sqlx::query_scalar("SELECT sequence FROM events ORDER BY sequence")
        .fetch_all(db.pool())
        .await
        .unwrap();
    assert_eq!(
        sequences,
        (1..=committed + 1).collect::<Vec<i64>>(),
        "gap-free per-aggregate sequence"
    );
}
