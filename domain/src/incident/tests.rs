#![allow(clippy::unwrap_used)]

use chrono::Duration;
use cqrs_es::test::{AggregateTestExecutor, TestFramework};
use cqrs_es::{Aggregate, DomainEvent};
use uuid::Uuid;

use super::*;
use crate::testing::{actor, now, services, tenant_id};
use crate::values::{
    Actor, AlertId, AlertSignature, AssetName, CorrelationDecision, CorrelationReason, ExecutionId,
    IncidentId, Note, PriorityScore, Role, Severity, ToolSource, UserId,
};

fn given(events: Vec<IncidentEvent>) -> AggregateTestExecutor<Incident> {
    TestFramework::<Incident>::with(services()).given(events)
}

fn incident_id() -> IncidentId {
    IncidentId::from_uuid(Uuid::from_u128(0x1c))
}

fn alert(n: u128) -> AlertId {
    AlertId::from_uuid(Uuid::from_u128(n))
}

fn tech() -> Actor {
    actor("tech-1", Role::Technician)
}

fn note(text: &str) -> Note {
    Note::parse(text).unwrap()
}

fn score(n: i64) -> PriorityScore {
    PriorityScore::new(n).unwrap()
}

fn opened_reason() -> CorrelationReason {
    CorrelationReason {
        key: "web01|HighCPU".to_owned(),
        window_minutes: 15,
        decision: CorrelationDecision::Opened,
        explanation: "no open incident with this key in the last 15 minutes".to_owned(),
    }
}

fn attached_reason() -> CorrelationReason {
    CorrelationReason {
        decision: CorrelationDecision::Attached { to: incident_id() },
        explanation: "open incident with this key since 5 minutes".to_owned(),
        ..opened_reason()
    }
}

fn tool(name: &str) -> ToolSource {
    ToolSource::parse(name).unwrap()
}

fn open() -> IncidentCommand {
    IncidentCommand::OpenIncident {
        incident_id: incident_id(),
        tenant_id: tenant_id(),
        key: "web01|HighCPU".to_owned(),
        first_alert: alert(1),
        asset: AssetName::parse("web01").unwrap(),
        signature: AlertSignature::parse("HighCPU").unwrap(),
        severity: Severity::High,
        priority: score(60),
        reason: opened_reason(),
        tool_source: tool("zabbix"),
    }
}

fn opened() -> IncidentEvent {
    IncidentEvent::IncidentOpened {
        tenant_id: tenant_id(),
        incident_id: incident_id(),
        key: "web01|HighCPU".to_owned(),
        first_alert: alert(1),
        asset: AssetName::parse("web01").unwrap(),
        signature: AlertSignature::parse("HighCPU").unwrap(),
        severity: Severity::High,
        priority: score(60),
        reason: opened_reason(),
        tool_source: tool("zabbix"),
        at: now(),
    }
}

fn attached(n: u128) -> IncidentEvent {
    IncidentEvent::AlertAttached {
        tenant_id: tenant_id(),
        alert_id: alert(n),
        reason: attached_reason(),
        tool_source: tool("zabbix"),
        at: now(),
    }
}

fn attach(n: u128, priority: Option<i64>) -> IncidentCommand {
    IncidentCommand::AttachAlert {
        alert_id: alert(n),
        reason: attached_reason(),
        priority: priority.map(score),
        tool_source: tool("zabbix"),
    }
}

fn acknowledged() -> IncidentEvent {
    IncidentEvent::IncidentAcknowledged {
        tenant_id: tenant_id(),
        actor: tech(),
        at: now(),
    }
}

fn assigned(to: &str) -> IncidentEvent {
    IncidentEvent::IncidentAssigned {
        tenant_id: tenant_id(),
        assignee: UserId::parse(to).unwrap(),
        actor: tech(),
        at: now(),
    }
}

fn resolved() -> IncidentEvent {
    IncidentEvent::IncidentResolved {
        tenant_id: tenant_id(),
        resolved_by: tech(),
        resolution: Resolution::Manual,
        note: Some(note("restarted nginx")),
        at: now(),
    }
}

fn reopened() -> IncidentEvent {
    IncidentEvent::IncidentReopened {
        tenant_id: tenant_id(),
        actor: tech(),
        reason: Some(note("it is back")),
        at: now(),
    }
}

fn alert_resolved(n: u128) -> IncidentEvent {
    IncidentEvent::IncidentAlertResolved {
        tenant_id: tenant_id(),
        alert_id: alert(n),
        at: now(),
    }
}

fn acknowledge() -> IncidentCommand {
    IncidentCommand::AcknowledgeIncident { actor: tech() }
}

fn assign(to: &str) -> IncidentCommand {
    IncidentCommand::AssignIncident {
        assignee: UserId::parse(to).unwrap(),
        actor: tech(),
    }
}

fn escalate() -> IncidentCommand {
    IncidentCommand::EscalateIncident {
        reason: note("needs the database team"),
        actor: tech(),
    }
}

fn resolve() -> IncidentCommand {
    IncidentCommand::ResolveIncident {
        actor: tech(),
        note: Some(note("restarted nginx")),
        resolution: Resolution::Manual,
    }
}

fn reopen() -> IncidentCommand {
    IncidentCommand::ReopenIncident {
        actor: tech(),
        reason: Some(note("it is back")),
    }
}

fn comment() -> IncidentCommand {
    IncidentCommand::CommentOnIncident {
        text: note("checked the load balancer"),
        actor: tech(),
    }
}

fn commented() -> IncidentEvent {
    IncidentEvent::IncidentCommented {
        tenant_id: tenant_id(),
        text: note("checked the load balancer"),
        actor: tech(),
        at: now(),
    }
}

#[test]
fn opening_an_incident_records_it_with_its_reason() {
    given(vec![])
        .when(open())
        .then_expect_events(vec![opened()]);
}

#[test]
fn opening_an_open_incident_is_rejected() {
    given(vec![opened()])
        .when(open())
        .then_expect_error(IncidentError::AlreadyOpened);
}

#[test]
fn every_other_command_before_opening_is_rejected() {
    let commands = vec![
        attach(2, None),
        acknowledge(),
        assign("tech-2"),
        comment(),
        escalate(),
        resolve(),
        reopen(),
        IncidentCommand::RecordAlertResolved { alert_id: alert(1) },
    ];
    for command in commands {
        given(vec![])
            .when(command)
            .then_expect_error(IncidentError::NotOpened);
    }
}

#[test]
fn attaching_an_alert_records_it_with_its_reason() {
    given(vec![opened()])
        .when(attach(2, None))
        .then_expect_events(vec![attached(2)]);
}

#[test]
fn attaching_an_alert_with_a_new_priority_also_records_the_change() {
    given(vec![opened()])
        .when(attach(2, Some(62)))
        .then_expect_events(vec![
            attached(2),
            IncidentEvent::PriorityChanged {
                tenant_id: tenant_id(),
                from: score(60),
                to: score(62),
                reason: format!("alert {} attached", alert(2)),
                at: now(),
            },
        ]);
}

#[test]
fn attaching_an_alert_with_an_unchanged_priority_records_no_change() {
    given(vec![opened()])
        .when(attach(2, Some(60)))
        .then_expect_events(vec![attached(2)]);
}

#[test]
fn attaching_the_same_alert_twice_is_rejected() {
    given(vec![opened(), attached(2)])
        .when(attach(2, None))
        .then_expect_error(IncidentError::AlertAlreadyAttached { alert_id: alert(2) });
}

#[test]
fn attaching_the_first_alert_again_is_rejected() {
    given(vec![opened()])
        .when(attach(1, None))
        .then_expect_error(IncidentError::AlertAlreadyAttached { alert_id: alert(1) });
}

#[test]
fn attaching_to_a_resolved_incident_is_rejected() {
    given(vec![opened(), resolved()])
        .when(attach(2, None))
        .then_expect_error(IncidentError::IncidentResolved);
}

#[test]
fn acknowledging_a_new_incident_records_who() {
    given(vec![opened()])
        .when(acknowledge())
        .then_expect_events(vec![acknowledged()]);
}

#[test]
fn acknowledging_an_acknowledged_incident_is_rejected() {
    given(vec![opened(), acknowledged()])
        .when(acknowledge())
        .then_expect_error(IncidentError::AlreadyAcknowledged);
}

#[test]
fn acknowledging_a_resolved_incident_is_rejected() {
    given(vec![opened(), resolved()])
        .when(acknowledge())
        .then_expect_error(IncidentError::CannotAcknowledgeResolved);
}

#[test]
fn a_reopened_incident_can_be_acknowledged_again() {
    given(vec![opened(), acknowledged(), resolved(), reopened()])
        .when(acknowledge())
        .then_expect_events(vec![acknowledged()]);
}

#[test]
fn assigning_an_incident_records_the_assignee() {
    given(vec![opened()])
        .when(assign("tech-2"))
        .then_expect_events(vec![assigned("tech-2")]);
}

#[test]
fn reassigning_to_someone_else_records_it() {
    given(vec![opened(), assigned("tech-2")])
        .when(assign("tech-3"))
        .then_expect_events(vec![assigned("tech-3")]);
}

#[test]
fn assigning_the_current_assignee_again_records_nothing() {
    given(vec![opened(), assigned("tech-2")])
        .when(assign("tech-2"))
        .then_expect_events(vec![]);
}

#[test]
fn assigning_a_resolved_incident_is_rejected() {
    given(vec![opened(), resolved()])
        .when(assign("tech-2"))
        .then_expect_error(IncidentError::CannotAssignResolved);
}

#[test]
fn commenting_records_the_text() {
    given(vec![opened()])
        .when(comment())
        .then_expect_events(vec![commented()]);
}

#[test]
fn commenting_on_a_resolved_incident_is_allowed() {
    given(vec![opened(), resolved()])
        .when(comment())
        .then_expect_events(vec![commented()]);
}

#[test]
fn escalating_records_the_reason() {
    given(vec![opened(), acknowledged()])
        .when(escalate())
        .then_expect_events(vec![IncidentEvent::IncidentEscalated {
            tenant_id: tenant_id(),
            reason: note("needs the database team"),
            actor: tech(),
            at: now(),
        }]);
}

#[test]
fn escalating_a_resolved_incident_is_rejected() {
    given(vec![opened(), resolved()])
        .when(escalate())
        .then_expect_error(IncidentError::CannotEscalateResolved);
}

#[test]
fn resolving_records_who_how_and_the_note() {
    given(vec![opened(), acknowledged()])
        .when(resolve())
        .then_expect_events(vec![resolved()]);
}

#[test]
fn resolving_as_self_healed_records_the_execution() {
    let execution_id = ExecutionId::from_uuid(Uuid::from_u128(0xe));
    let system = actor("system:ssm-executor", Role::MspAdmin);
    given(vec![opened()])
        .when(IncidentCommand::ResolveIncident {
            actor: system.clone(),
            note: None,
            resolution: Resolution::SelfHealed { execution_id },
        })
        .then_expect_events(vec![IncidentEvent::IncidentResolved {
            tenant_id: tenant_id(),
            resolved_by: system,
            resolution: Resolution::SelfHealed { execution_id },
            note: None,
            at: now(),
        }]);
}

#[test]
fn resolving_a_resolved_incident_is_rejected() {
    given(vec![opened(), resolved()])
        .when(resolve())
        .then_expect_error(IncidentError::AlreadyResolved);
}

#[test]
fn reopening_a_resolved_incident_records_it() {
    given(vec![opened(), resolved()])
        .when(reopen())
        .then_expect_events(vec![reopened()]);
}

#[test]
fn reopening_an_unresolved_incident_is_rejected() {
    given(vec![opened(), acknowledged()])
        .when(reopen())
        .then_expect_error(IncidentError::NotResolved);
}

#[test]
fn recording_a_resolved_alert_records_it() {
    given(vec![opened(), attached(2)])
        .when(IncidentCommand::RecordAlertResolved { alert_id: alert(1) })
        .then_expect_events(vec![alert_resolved(1)]);
}

#[test]
fn recording_the_last_resolved_alert_also_records_that_all_are_resolved() {
    given(vec![opened(), attached(2), alert_resolved(1)])
        .when(IncidentCommand::RecordAlertResolved { alert_id: alert(2) })
        .then_expect_events(vec![
            alert_resolved(2),
            IncidentEvent::AllAlertsResolved {
                tenant_id: tenant_id(),
                at: now(),
            },
        ]);
}

#[test]
fn recording_a_resolved_alert_twice_records_nothing() {
    given(vec![opened(), attached(2), alert_resolved(1)])
        .when(IncidentCommand::RecordAlertResolved { alert_id: alert(1) })
        .then_expect_events(vec![]);
}

#[test]
fn recording_an_unattached_alert_as_resolved_is_rejected() {
    given(vec![opened()])
        .when(IncidentCommand::RecordAlertResolved { alert_id: alert(9) })
        .then_expect_error(IncidentError::UnknownAlert { alert_id: alert(9) });
}

#[test]
fn the_status_follows_the_lifecycle_and_keeps_mtta_and_mttr_times() {
    let later = |minutes| now() + Duration::minutes(minutes);
    let mut incident = Incident::default();
    incident.apply(opened());
    assert_eq!(incident.status(), IncidentStatus::New);
    incident.apply(IncidentEvent::IncidentAcknowledged {
        tenant_id: tenant_id(),
        actor: tech(),
        at: later(3),
    });
    assert_eq!(incident.status(), IncidentStatus::Acknowledged);
    incident.apply(assigned("tech-2"));
    assert_eq!(incident.status(), IncidentStatus::InProgress);
    assert_eq!(incident.assignee().map(UserId::as_str), Some("tech-2"));
    incident.apply(IncidentEvent::IncidentEscalated {
        tenant_id: tenant_id(),
        reason: note("db"),
        actor: tech(),
        at: later(5),
    });
    assert_eq!(incident.status(), IncidentStatus::Escalated);
    incident.apply(IncidentEvent::IncidentResolved {
        tenant_id: tenant_id(),
        resolved_by: tech(),
        resolution: Resolution::Manual,
        note: None,
        at: later(20),
    });
    assert_eq!(incident.status(), IncidentStatus::Resolved);
    assert_eq!(incident.opened_at(), Some(now()));
    assert_eq!(incident.first_acknowledged_at(), Some(later(3)));
    assert_eq!(incident.resolved_at(), Some(later(20)));
    incident.apply(reopened());
    assert_eq!(incident.status(), IncidentStatus::New);
    assert_eq!(incident.resolved_at(), None);
    assert_eq!(incident.first_acknowledged_at(), Some(later(3)));
    assert_eq!(incident.alert_ids().collect::<Vec<_>>(), vec![alert(1)]);
    assert_eq!(incident.key(), Some("web01|HighCPU"));
    assert_eq!(incident.priority(), Some(score(60)));
}

#[test]
fn incident_events_serialize_externally_tagged_with_their_tenant() {
    let event = resolved();
    assert_eq!(event.event_type(), "IncidentResolved");
    assert_eq!(event.event_version(), "1.0");
    let json = serde_json::to_value(&event).unwrap();
    assert_eq!(json.as_object().unwrap().len(), 1);
    let body = &json["IncidentResolved"];
    assert_eq!(body["tenant_id"], tenant_id().to_string());
    assert_eq!(body["resolution"], serde_json::json!({"kind": "manual"}));
    assert_eq!(body["resolved_by"]["role"], "technician");
    assert_eq!(body["at"], "2026-03-14T09:26:53Z");
    assert_eq!(
        serde_json::from_value::<IncidentEvent>(json).unwrap(),
        event
    );
    let opened = serde_json::to_value(opened()).unwrap();
    assert_eq!(opened["IncidentOpened"]["priority"], 60);
    assert_eq!(
        opened["IncidentOpened"]["reason"]["decision"]["kind"],
        "opened"
    );
}

#[test]
fn incident_statuses_use_the_api_spelling() {
    assert_eq!(
        serde_json::to_string(&IncidentStatus::InProgress).unwrap(),
        "\"in_progress\""
    );
    assert_eq!(IncidentStatus::Escalated.to_string(), "escalated");
}

#[test]
fn the_incident_state_round_trips_through_json() {
    let mut incident = Incident::default();
    for event in [opened(), attached(2), alert_resolved(1), acknowledged()] {
        incident.apply(event);
    }
    let json = serde_json::to_string(&incident).unwrap();
    assert_eq!(serde_json::from_str::<Incident>(&json).unwrap(), incident);
}
