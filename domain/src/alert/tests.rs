#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Duration, Utc};
use cqrs_es::test::{AggregateTestExecutor, TestFramework};
use cqrs_es::{Aggregate, DomainEvent};
use uuid::Uuid;

use super::*;
use crate::testing::{actor, now, services, tenant_id};
use crate::values::{
    AlertId, AlertMessage, AlertSignature, AlertStatus, AssetName, CorrelationDecision,
    CorrelationReason, DeliveryKey, Fingerprint, IncidentId, Labels, Note, Role, Severity,
    ToolSource, WebhookSource,
};

fn given(events: Vec<AlertEvent>) -> AggregateTestExecutor<Alert> {
    TestFramework::<Alert>::with(services()).given(events)
}

fn delivery_key() -> DeliveryKey {
    DeliveryKey::parse("am-3f9a1c-1710408000-firing").unwrap()
}

fn alert_id() -> AlertId {
    AlertId::for_delivery(&tenant_id(), &delivery_key())
}

fn occurred_at() -> DateTime<Utc> {
    now() - Duration::minutes(2)
}

fn incident(n: u128) -> IncidentId {
    IncidentId::from_uuid(Uuid::from_u128(n))
}

fn labels() -> Labels {
    Labels::new([("team".to_owned(), "ops".to_owned())].into()).unwrap()
}

fn receive(status: AlertStatus) -> AlertCommand {
    AlertCommand::ReceiveAlert {
        alert_id: alert_id(),
        tenant_id: tenant_id(),
        delivery_key: delivery_key(),
        source: WebhookSource::Alertmanager,
        asset: AssetName::parse("web01").unwrap(),
        signature: AlertSignature::parse("HighCPU").unwrap(),
        severity: Severity::High,
        message: AlertMessage::parse("CPU above 90% for 5m").unwrap(),
        tool_source: ToolSource::parse("prometheus").unwrap(),
        status,
        labels: labels(),
        occurred_at: occurred_at(),
        fingerprint: Fingerprint::parse("3f9a1c").unwrap(),
        asset_known: true,
        normalization_warnings: Vec::new(),
    }
}

fn received(status: AlertStatus) -> AlertEvent {
    AlertEvent::AlertReceived {
        tenant_id: tenant_id(),
        alert_id: alert_id(),
        delivery_key: delivery_key(),
        source: WebhookSource::Alertmanager,
        asset: AssetName::parse("web01").unwrap(),
        signature: AlertSignature::parse("HighCPU").unwrap(),
        severity: Severity::High,
        message: AlertMessage::parse("CPU above 90% for 5m").unwrap(),
        tool_source: ToolSource::parse("prometheus").unwrap(),
        status,
        labels: labels(),
        occurred_at: occurred_at(),
        fingerprint: Fingerprint::parse("3f9a1c").unwrap(),
        asset_known: true,
        normalization_warnings: Vec::new(),
        at: now(),
    }
}

fn firing() -> AlertEvent {
    received(AlertStatus::Firing)
}

fn reason(decision: CorrelationDecision) -> CorrelationReason {
    CorrelationReason {
        key: "web01|HighCPU".to_owned(),
        window_minutes: 15,
        decision,
        explanation: "no open incident with key web01|HighCPU in the last 15 minutes".to_owned(),
    }
}

fn correlated(n: u128) -> AlertEvent {
    AlertEvent::AlertCorrelated {
        tenant_id: tenant_id(),
        incident_id: incident(n),
        reason: reason(CorrelationDecision::Opened),
        at: now(),
    }
}

fn acknowledge() -> AlertCommand {
    AlertCommand::AcknowledgeAlert {
        actor: actor("tech-1", Role::Technician),
        note: Some(Note::parse("looking").unwrap()),
    }
}

fn acknowledged() -> AlertEvent {
    AlertEvent::AlertAcknowledged {
        tenant_id: tenant_id(),
        actor: actor("tech-1", Role::Technician),
        note: Some(Note::parse("looking").unwrap()),
        at: now(),
    }
}

fn correlate(n: u128) -> AlertCommand {
    AlertCommand::CorrelateAlert {
        incident_id: incident(n),
        reason: reason(CorrelationDecision::Opened),
    }
}

fn resolve() -> AlertCommand {
    AlertCommand::ResolveAlertFromSource {
        resolved_at: now() - Duration::seconds(30),
        delivery_key: None,
    }
}

#[test]
fn receiving_an_alert_records_it_with_the_receipt_time() {
    given(vec![])
        .when(receive(AlertStatus::Firing))
        .then_expect_events(vec![firing()]);
}

#[test]
fn an_alert_received_resolved_is_one_receipt_and_born_resolved() {
    given(vec![])
        .when(receive(AlertStatus::Resolved))
        .then_expect_events(vec![received(AlertStatus::Resolved)]);
    let mut alert = Alert::default();
    alert.apply(received(AlertStatus::Resolved));
    assert_eq!(alert.status(), Some(AlertStatus::Resolved));
}

#[test]
fn receiving_an_alert_twice_is_rejected() {
    given(vec![firing()])
        .when(receive(AlertStatus::Firing))
        .then_expect_error(AlertError::AlreadyReceived);
}

#[test]
fn acknowledging_an_alert_records_who_and_the_note() {
    given(vec![firing()])
        .when(acknowledge())
        .then_expect_events(vec![acknowledged()]);
}

#[test]
fn acknowledging_an_alert_that_was_not_received_is_rejected() {
    given(vec![])
        .when(acknowledge())
        .then_expect_error(AlertError::NotReceived);
}

#[test]
fn acknowledging_an_alert_twice_is_rejected() {
    given(vec![firing(), acknowledged()])
        .when(acknowledge())
        .then_expect_error(AlertError::AlreadyAcknowledged);
}

#[test]
fn correlating_an_alert_records_the_incident_and_the_reason() {
    given(vec![firing()])
        .when(correlate(1))
        .then_expect_events(vec![correlated(1)]);
}

#[test]
fn correlating_an_alert_that_was_not_received_is_rejected() {
    given(vec![])
        .when(correlate(1))
        .then_expect_error(AlertError::NotReceived);
}

#[test]
fn correlating_an_alert_to_another_incident_is_rejected() {
    given(vec![firing(), correlated(1)])
        .when(correlate(2))
        .then_expect_error(AlertError::AlreadyCorrelated {
            incident_id: incident(1),
        });
}

#[test]
fn correlating_an_alert_to_the_same_incident_again_is_rejected() {
    given(vec![firing(), correlated(1)])
        .when(correlate(1))
        .then_expect_error(AlertError::AlreadyCorrelated {
            incident_id: incident(1),
        });
}

#[test]
fn the_source_resolving_an_alert_records_it() {
    let key = DeliveryKey::parse("am-3f9a1c-resolved").unwrap();
    given(vec![firing()])
        .when(AlertCommand::ResolveAlertFromSource {
            resolved_at: now() - Duration::seconds(30),
            delivery_key: Some(key.clone()),
        })
        .then_expect_events(vec![AlertEvent::AlertResolvedBySource {
            tenant_id: tenant_id(),
            resolved_at: now() - Duration::seconds(30),
            delivery_key: Some(key),
            at: now(),
        }]);
}

#[test]
fn resolving_an_alert_that_was_not_received_is_rejected() {
    given(vec![])
        .when(resolve())
        .then_expect_error(AlertError::NotReceived);
}

#[test]
fn resolving_a_resolved_alert_is_rejected() {
    let resolved = AlertEvent::AlertResolvedBySource {
        tenant_id: tenant_id(),
        resolved_at: now(),
        delivery_key: None,
        at: now(),
    };
    given(vec![firing(), resolved])
        .when(resolve())
        .then_expect_error(AlertError::AlreadyResolved);
    given(vec![received(AlertStatus::Resolved)])
        .when(resolve())
        .then_expect_error(AlertError::AlreadyResolved);
}

#[test]
fn the_folded_state_shows_acknowledgement_and_incident() {
    let mut alert = Alert::default();
    for event in [firing(), acknowledged(), correlated(1)] {
        alert.apply(event);
    }
    assert_eq!(alert.alert_id(), Some(alert_id()));
    assert_eq!(alert.tenant_id(), Some(tenant_id()));
    assert_eq!(alert.status(), Some(AlertStatus::Firing));
    assert_eq!(alert.acknowledged_at(), Some(now()));
    assert_eq!(alert.incident_id(), Some(incident(1)));
}

#[test]
fn alert_events_serialize_externally_tagged_with_their_tenant() {
    let event = firing();
    assert_eq!(event.event_type(), "AlertReceived");
    assert_eq!(event.event_version(), "1.0");
    let json = serde_json::to_value(&event).unwrap();
    assert_eq!(json.as_object().unwrap().len(), 1);
    let body = &json["AlertReceived"];
    assert_eq!(body["tenant_id"], tenant_id().to_string());
    assert_eq!(body["alert_id"], alert_id().to_string());
    assert_eq!(body["severity"], "high");
    assert_eq!(body["status"], "firing");
    assert_eq!(body["source"], "alertmanager");
    assert_eq!(body["labels"], serde_json::json!({"team": "ops"}));
    assert_eq!(body["at"], "2026-03-14T09:26:53Z");
    assert_eq!(serde_json::from_value::<AlertEvent>(json).unwrap(), event);
}

#[test]
fn a_stored_alert_event_with_an_invalid_value_does_not_deserialize() {
    let mut json = serde_json::to_value(firing()).unwrap();
    json["AlertReceived"]["severity"] = serde_json::json!("catastrophic");
    assert!(serde_json::from_value::<AlertEvent>(json).is_err());
}
