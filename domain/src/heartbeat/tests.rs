#![allow(clippy::unwrap_used)]

use chrono::Duration;
use cqrs_es::test::{AggregateTestExecutor, TestFramework};
use uuid::Uuid;

use super::*;
use crate::testing::{now, services, tenant_id};
use crate::values::{AlertId, HeartbeatId, Labels, Role, Severity};

fn given(events: Vec<HeartbeatEvent>) -> AggregateTestExecutor<Heartbeat> {
    TestFramework::<Heartbeat>::with(services()).given(events)
}

fn id() -> HeartbeatId {
    HeartbeatId::for_name(&tenant_id(), "nightly-backup")
}

fn name() -> HeartbeatName {
    HeartbeatName::parse("nightly-backup").unwrap()
}

fn settings(timeout: u32) -> HeartbeatSettings {
    HeartbeatSettings::new(timeout, None, Labels::default()).unwrap()
}

fn registered() -> HeartbeatEvent {
    HeartbeatEvent::HeartbeatRegistered {
        tenant_id: tenant_id(),
        heartbeat_id: id(),
        name: name(),
        timeout_seconds: 60,
        asset: None,
        labels: Labels::default(),
        severity: Severity::High,
        at: now(),
    }
}

fn actor() -> crate::values::Actor {
    crate::testing::actor("alice", Role::TenantAdmin)
}

fn alert(n: u128) -> AlertId {
    AlertId::from_uuid(Uuid::from_u128(n))
}

fn missed() -> HeartbeatEvent {
    HeartbeatEvent::HeartbeatMissed {
        tenant_id: tenant_id(),
        heartbeat_id: id(),
        name: name(),
        last_seen_at: now() - Duration::seconds(90),
        deadline: now() - Duration::seconds(30),
        alert_id: alert(1),
        at: now(),
    }
}

#[test]
fn a_first_beat_registers_the_heartbeat_with_its_settings() {
    given(vec![])
        .when(HeartbeatCommand::Register {
            tenant_id: tenant_id(),
            heartbeat_id: id(),
            name: name(),
            settings: settings(60),
        })
        .then_expect_events(vec![registered()]);
}

#[test]
fn the_same_settings_again_record_nothing_and_new_ones_a_change() {
    given(vec![registered()])
        .when(HeartbeatCommand::ChangeSettings {
            settings: settings(60),
        })
        .then_expect_events(vec![]);
    given(vec![registered()])
        .when(HeartbeatCommand::ChangeSettings {
            settings: settings(120),
        })
        .then_expect_events(vec![HeartbeatEvent::HeartbeatChanged {
            tenant_id: tenant_id(),
            heartbeat_id: id(),
            timeout_seconds: 120,
            asset: None,
            labels: Labels::default(),
            severity: Severity::High,
            at: now(),
        }]);
}

#[test]
fn a_heartbeat_is_missed_once_until_it_recovers() {
    given(vec![registered(), missed()])
        .when(HeartbeatCommand::RecordMissed {
            last_seen_at: now(),
            deadline: now(),
            alert_id: alert(2),
        })
        .then_expect_error(HeartbeatError::AlreadyMissed);
    given(vec![registered(), missed()])
        .when(HeartbeatCommand::RecordRecovered {
            seen_at: now(),
            resolved_by: alert(3),
        })
        .then_expect_events(vec![HeartbeatEvent::HeartbeatRecovered {
            tenant_id: tenant_id(),
            heartbeat_id: id(),
            name: name(),
            seen_at: now(),
            missed_alert_id: alert(1),
            resolved_by: alert(3),
            at: now(),
        }]);
    given(vec![registered()])
        .when(HeartbeatCommand::RecordRecovered {
            seen_at: now(),
            resolved_by: alert(3),
        })
        .then_expect_error(HeartbeatError::NotMissed);
}

#[test]
fn names_and_timeouts_are_checked() {
    assert!(HeartbeatName::parse("db-backup.nightly_1").is_ok());
    assert_eq!(HeartbeatName::parse("").unwrap_err().field(), "name");
    assert_eq!(HeartbeatName::parse("a b").unwrap_err().field(), "name");
    assert_eq!(
        HeartbeatName::parse(&"x".repeat(129)).unwrap_err().field(),
        "name"
    );
    assert!(HeartbeatSettings::new(4, None, Labels::default()).is_err());
    assert!(HeartbeatSettings::new(5, None, Labels::default()).is_ok());
    assert_eq!(
        HeartbeatSettings::new(604_801, None, Labels::default())
            .unwrap_err()
            .field(),
        "timeout_seconds"
    );
}

#[test]
fn a_changed_severity_is_a_change_of_settings() {
    given(vec![registered()])
        .when(HeartbeatCommand::ChangeSettings {
            settings: settings(60).with_severity(Severity::Critical),
        })
        .then_expect_events(vec![HeartbeatEvent::HeartbeatChanged {
            tenant_id: tenant_id(),
            heartbeat_id: id(),
            timeout_seconds: 60,
            asset: None,
            labels: Labels::default(),
            severity: Severity::Critical,
            at: now(),
        }]);
}

#[test]
fn events_stored_before_severity_was_a_setting_read_as_high() {
    let stored = serde_json::json!({"HeartbeatRegistered": {
        "tenant_id": tenant_id(), "heartbeat_id": id(), "name": "nightly-backup",
        "timeout_seconds": 60, "asset": null, "labels": {}, "at": now(),
    }});
    let event: HeartbeatEvent = serde_json::from_value(stored).unwrap();
    assert_eq!(event, registered());
}

#[test]
fn a_paused_heartbeat_is_not_missed_and_pausing_twice_records_nothing() {
    let paused = HeartbeatEvent::HeartbeatPaused {
        tenant_id: tenant_id(),
        heartbeat_id: id(),
        name: name(),
        actor: actor(),
        at: now(),
    };
    given(vec![registered()])
        .when(HeartbeatCommand::Pause { actor: actor() })
        .then_expect_events(vec![paused.clone()]);
    given(vec![registered(), paused.clone()])
        .when(HeartbeatCommand::Pause { actor: actor() })
        .then_expect_events(vec![]);
    given(vec![registered(), paused.clone()])
        .when(HeartbeatCommand::RecordMissed {
            last_seen_at: now(),
            deadline: now(),
            alert_id: alert(2),
        })
        .then_expect_error(HeartbeatError::Paused);
    given(vec![registered(), paused])
        .when(HeartbeatCommand::Resume { actor: actor() })
        .then_expect_events(vec![HeartbeatEvent::HeartbeatResumed {
            tenant_id: tenant_id(),
            heartbeat_id: id(),
            name: name(),
            actor: actor(),
            at: now(),
        }]);
}

#[test]
fn a_deleted_heartbeat_is_gone_until_a_beat_registers_it_again() {
    let deleted = HeartbeatEvent::HeartbeatDeleted {
        tenant_id: tenant_id(),
        heartbeat_id: id(),
        name: name(),
        resolved_alerts: vec![alert(1)],
        actor: actor(),
        at: now(),
    };
    given(vec![registered(), missed()])
        .when(HeartbeatCommand::Delete {
            actor: actor(),
            resolved_alerts: vec![alert(1)],
        })
        .then_expect_events(vec![deleted.clone()]);
    given(vec![registered(), deleted.clone()])
        .when(HeartbeatCommand::Pause { actor: actor() })
        .then_expect_error(HeartbeatError::NotRegistered);
    given(vec![registered(), missed(), deleted])
        .when(HeartbeatCommand::Register {
            tenant_id: tenant_id(),
            heartbeat_id: id(),
            name: name(),
            settings: settings(60),
        })
        .then_expect_events(vec![registered()]);
}
