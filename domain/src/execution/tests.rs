#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use cqrs_es::test::{AggregateTestExecutor, TestFramework};
use cqrs_es::{Aggregate, DomainEvent};
use uuid::Uuid;

use super::*;
use crate::testing::{actor, now, services, tenant_id};
use crate::values::{
    ApprovalId, ExecutionId, IncidentId, InstanceId, InvocationStatus, Role, RunbookId,
    SsmCommandId,
};

fn given(events: Vec<ExecutionEvent>) -> AggregateTestExecutor<Execution> {
    TestFramework::<Execution>::with(services()).given(events)
}

fn execution_id() -> ExecutionId {
    ExecutionId::from_uuid(Uuid::from_u128(0xe))
}

fn runbook_id() -> RunbookId {
    RunbookId::from_uuid(Uuid::from_u128(0xb))
}

fn incident_id() -> IncidentId {
    IncidentId::from_uuid(Uuid::from_u128(0xc))
}

fn approval_id() -> ApprovalId {
    ApprovalId::from_uuid(Uuid::from_u128(0xa))
}

fn instance(n: u32) -> InstanceId {
    InstanceId::parse(&format!("i-{n:017x}")).unwrap()
}

fn command_id() -> SsmCommandId {
    SsmCommandId::parse("6f1c2a4e-8b0d-4c2f-9e3a-1b2c3d4e5f60").unwrap()
}

fn request_with(document: &str, instance_ids: Vec<InstanceId>) -> ExecutionCommand {
    ExecutionCommand::RequestExecution {
        execution_id: execution_id(),
        tenant_id: tenant_id(),
        runbook_id: runbook_id(),
        incident_id: incident_id(),
        approval_id: Some(approval_id()),
        document: document.to_owned(),
        commands: vec!["systemctl restart nginx".to_owned()],
        parameters: BTreeMap::new(),
        instance_ids,
        requested_by: actor("tech-1", Role::Technician),
    }
}

fn requested() -> ExecutionEvent {
    ExecutionEvent::ExecutionRequested {
        tenant_id: tenant_id(),
        execution_id: execution_id(),
        runbook_id: runbook_id(),
        incident_id: incident_id(),
        approval_id: Some(approval_id()),
        document: "AWS-RunShellScript".to_owned(),
        commands: vec!["systemctl restart nginx".to_owned()],
        parameters: BTreeMap::new(),
        instance_ids: vec![instance(1), instance(2)],
        requested_by: actor("tech-1", Role::Technician),
        at: now(),
    }
}

fn dispatched() -> ExecutionEvent {
    ExecutionEvent::ExecutionDispatched {
        tenant_id: tenant_id(),
        command_id: command_id(),
        at: now(),
    }
}

fn record(n: u32, status: InvocationStatus, code: Option<i32>) -> ExecutionCommand {
    ExecutionCommand::RecordInvocation {
        instance_id: instance(n),
        status,
        response_code: code,
        stdout_excerpt: "ok".to_owned(),
        stderr_excerpt: String::new(),
    }
}

fn updated(n: u32, status: InvocationStatus, code: Option<i32>) -> ExecutionEvent {
    ExecutionEvent::InvocationUpdated {
        tenant_id: tenant_id(),
        instance_id: instance(n),
        status,
        response_code: code,
        stdout_excerpt: "ok".to_owned(),
        stderr_excerpt: String::new(),
        at: now(),
    }
}

fn succeeded() -> ExecutionEvent {
    ExecutionEvent::ExecutionSucceeded {
        tenant_id: tenant_id(),
        incident_id: incident_id(),
        at: now(),
    }
}

fn fail() -> ExecutionCommand {
    ExecutionCommand::Fail {
        reason: "exit code 1 on i-1".to_owned(),
        error_code: Some("NonZeroExit".to_owned()),
    }
}

fn failed() -> ExecutionEvent {
    ExecutionEvent::ExecutionFailed {
        tenant_id: tenant_id(),
        incident_id: incident_id(),
        reason: "exit code 1 on i-1".to_owned(),
        error_code: Some("NonZeroExit".to_owned()),
        at: now(),
    }
}

fn timed_out() -> ExecutionEvent {
    ExecutionEvent::ExecutionTimedOut {
        tenant_id: tenant_id(),
        incident_id: incident_id(),
        at: now(),
    }
}

fn both_succeeded() -> Vec<ExecutionEvent> {
    vec![
        requested(),
        dispatched(),
        updated(1, InvocationStatus::Success, Some(0)),
        updated(2, InvocationStatus::Success, Some(0)),
    ]
}

#[test]
fn requesting_an_execution_records_it_without_duplicate_targets() {
    given(vec![])
        .when(request_with(
            "AWS-RunShellScript",
            vec![instance(1), instance(2), instance(1)],
        ))
        .then_expect_events(vec![requested()]);
}

#[test]
fn requesting_an_execution_twice_is_rejected() {
    given(vec![requested()])
        .when(request_with("AWS-RunShellScript", vec![instance(1)]))
        .then_expect_error(ExecutionError::AlreadyRequested);
}

#[test]
fn requesting_an_execution_without_targets_is_rejected() {
    given(vec![])
        .when(request_with("AWS-RunShellScript", vec![]))
        .then_expect_error(ExecutionError::NoTargets);
}

#[test]
fn requesting_an_execution_without_a_document_is_rejected() {
    given(vec![])
        .when(request_with(" ", vec![instance(1)]))
        .then_expect_error(ExecutionError::EmptyDocument);
}

#[test]
fn every_other_command_before_a_request_is_rejected() {
    for command in [
        ExecutionCommand::MarkDispatched {
            command_id: command_id(),
        },
        record(1, InvocationStatus::InProgress, None),
        ExecutionCommand::Succeed,
        fail(),
        ExecutionCommand::TimeOut,
    ] {
        given(vec![])
            .when(command)
            .then_expect_error(ExecutionError::NotRequested);
    }
}

#[test]
fn dispatching_records_the_ssm_command_id() {
    given(vec![requested()])
        .when(ExecutionCommand::MarkDispatched {
            command_id: command_id(),
        })
        .then_expect_events(vec![dispatched()]);
}

fn dispatching() -> ExecutionEvent {
    ExecutionEvent::ExecutionDispatching {
        tenant_id: tenant_id(),
        comment: "alertledger execution x".to_owned(),
        at: now(),
    }
}

#[test]
fn marking_dispatching_is_recorded_once_and_then_the_command_id() {
    given(vec![requested()])
        .when(ExecutionCommand::MarkDispatching {
            comment: "alertledger execution x".to_owned(),
        })
        .then_expect_events(vec![dispatching()]);
    given(vec![requested(), dispatching()])
        .when(ExecutionCommand::MarkDispatching {
            comment: "again".to_owned(),
        })
        .then_expect_error(ExecutionError::AlreadyDispatched);
    given(vec![requested(), dispatching()])
        .when(ExecutionCommand::MarkDispatched {
            command_id: command_id(),
        })
        .then_expect_events(vec![dispatched()]);
}

#[test]
fn an_execution_requested_before_parameters_existed_still_decodes() {
    let mut json = serde_json::to_value(requested()).unwrap();
    json["ExecutionRequested"]
        .as_object_mut()
        .unwrap()
        .remove("parameters");
    let event: ExecutionEvent = serde_json::from_value(json).unwrap();
    assert_eq!(event, requested());
}

#[test]
fn dispatching_twice_is_rejected() {
    given(vec![requested(), dispatched()])
        .when(ExecutionCommand::MarkDispatched {
            command_id: command_id(),
        })
        .then_expect_error(ExecutionError::AlreadyDispatched);
}

#[test]
fn recording_an_invocation_records_its_status_and_output() {
    given(vec![requested(), dispatched()])
        .when(record(1, InvocationStatus::InProgress, None))
        .then_expect_events(vec![updated(1, InvocationStatus::InProgress, None)]);
}

#[test]
fn recording_an_invocation_before_dispatch_is_rejected() {
    given(vec![requested()])
        .when(record(1, InvocationStatus::InProgress, None))
        .then_expect_error(ExecutionError::NotDispatched);
}

#[test]
fn recording_an_invocation_of_an_instance_that_is_not_a_target_is_rejected() {
    given(vec![requested(), dispatched()])
        .when(record(9, InvocationStatus::InProgress, None))
        .then_expect_error(ExecutionError::UnknownInstance {
            instance_id: instance(9),
        });
}

#[test]
fn recording_an_unchanged_invocation_records_nothing() {
    given(vec![
        requested(),
        dispatched(),
        updated(1, InvocationStatus::InProgress, None),
    ])
    .when(record(1, InvocationStatus::InProgress, None))
    .then_expect_events(vec![]);
}

#[test]
fn recording_a_changed_response_code_records_it() {
    given(vec![
        requested(),
        dispatched(),
        updated(1, InvocationStatus::Failed, None),
    ])
    .when(record(1, InvocationStatus::Failed, Some(1)))
    .then_expect_events(vec![updated(1, InvocationStatus::Failed, Some(1))]);
}

#[test]
fn long_output_is_cut_to_2500_characters_on_a_character_boundary() {
    let result = given(vec![requested(), dispatched()])
        .when(ExecutionCommand::RecordInvocation {
            instance_id: instance(1),
            status: InvocationStatus::Failed,
            response_code: Some(1),
            stdout_excerpt: "é".repeat(3_000),
            stderr_excerpt: "short".to_owned(),
        })
        .inspect_result()
        .unwrap();
    match result.as_slice() {
        [ExecutionEvent::InvocationUpdated {
            stdout_excerpt,
            stderr_excerpt,
            ..
        }] => {
            assert_eq!(stdout_excerpt.chars().count(), MAX_EXCERPT_CHARS);
            assert_eq!(*stdout_excerpt, "é".repeat(2_500));
            assert_eq!(stderr_excerpt, "short");
        }
        other => panic!("expected one invocation update, got {other:?}"),
    }
}

#[test]
fn succeeding_when_every_instance_succeeded_records_it() {
    given(both_succeeded())
        .when(ExecutionCommand::Succeed)
        .then_expect_events(vec![succeeded()]);
}

#[test]
fn succeeding_when_an_instance_has_not_succeeded_is_rejected() {
    given(vec![
        requested(),
        dispatched(),
        updated(1, InvocationStatus::Success, Some(0)),
        updated(2, InvocationStatus::Failed, Some(1)),
    ])
    .when(ExecutionCommand::Succeed)
    .then_expect_error(ExecutionError::NotAllInstancesSucceeded);
}

#[test]
fn succeeding_when_an_instance_has_not_reported_is_rejected() {
    given(vec![
        requested(),
        dispatched(),
        updated(1, InvocationStatus::Success, Some(0)),
    ])
    .when(ExecutionCommand::Succeed)
    .then_expect_error(ExecutionError::NotAllInstancesSucceeded);
}

#[test]
fn succeeding_before_dispatch_is_rejected() {
    given(vec![requested()])
        .when(ExecutionCommand::Succeed)
        .then_expect_error(ExecutionError::NotDispatched);
}

#[test]
fn failing_records_the_reason_and_error_code() {
    given(vec![requested(), dispatched()])
        .when(fail())
        .then_expect_events(vec![failed()]);
}

#[test]
fn failing_before_dispatch_is_allowed() {
    given(vec![requested()])
        .when(fail())
        .then_expect_events(vec![failed()]);
}

#[test]
fn timing_out_records_it() {
    given(vec![requested(), dispatched()])
        .when(ExecutionCommand::TimeOut)
        .then_expect_events(vec![timed_out()]);
}

#[test]
fn timing_out_before_dispatch_is_rejected() {
    given(vec![requested()])
        .when(ExecutionCommand::TimeOut)
        .then_expect_error(ExecutionError::NotDispatched);
}

#[test]
fn every_command_after_a_final_outcome_is_rejected() {
    let finished = [
        [both_succeeded(), vec![succeeded()]].concat(),
        vec![requested(), dispatched(), failed()],
        vec![requested(), dispatched(), timed_out()],
    ];
    for history in finished {
        for command in [
            ExecutionCommand::MarkDispatched {
                command_id: command_id(),
            },
            record(1, InvocationStatus::Failed, Some(2)),
            ExecutionCommand::Succeed,
            fail(),
            ExecutionCommand::TimeOut,
        ] {
            given(history.clone())
                .when(command)
                .then_expect_error(ExecutionError::AlreadyFinished);
        }
    }
}

#[test]
fn the_folded_state_tracks_dispatch_and_invocations() {
    let mut execution = Execution::default();
    for event in both_succeeded() {
        execution.apply(event);
    }
    assert_eq!(execution.tenant_id(), Some(tenant_id()));
    assert_eq!(execution.status(), ExecutionStatus::Dispatched);
    assert_eq!(execution.command_id(), Some(&command_id()));
    assert_eq!(execution.instance_ids(), &[instance(1), instance(2)]);
    assert_eq!(
        execution.invocation_status(&instance(2)),
        Some(InvocationStatus::Success)
    );
    execution.apply(succeeded());
    assert_eq!(execution.status(), ExecutionStatus::Succeeded);
    assert!(execution.status().is_finished());
}

#[test]
fn execution_events_serialize_externally_tagged_with_their_tenant() {
    let event = updated(1, InvocationStatus::InProgress, None);
    assert_eq!(event.event_type(), "InvocationUpdated");
    assert_eq!(event.event_version(), "1.0");
    let json = serde_json::to_value(&event).unwrap();
    assert_eq!(json.as_object().unwrap().len(), 1);
    let body = &json["InvocationUpdated"];
    assert_eq!(body["tenant_id"], tenant_id().to_string());
    assert_eq!(body["instance_id"], "i-00000000000000001");
    assert_eq!(body["status"], "InProgress");
    assert_eq!(body["response_code"], serde_json::Value::Null);
    assert_eq!(body["at"], "2026-03-14T09:26:53Z");
    assert_eq!(
        serde_json::from_value::<ExecutionEvent>(json).unwrap(),
        event
    );
}

#[test]
fn the_execution_state_round_trips_through_json() {
    let mut execution = Execution::default();
    for event in both_succeeded() {
        execution.apply(event);
    }
    let json = serde_json::to_string(&execution).unwrap();
    assert_eq!(serde_json::from_str::<Execution>(&json).unwrap(), execution);
}

#[test]
fn a_refused_execution_is_recorded_finished_and_can_never_be_dispatched() {
    let reason = "runbook changed since approval was requested: version 1 → 2 (commands changed)";
    let refused = ExecutionEvent::ExecutionRefused {
        tenant_id: tenant_id(),
        execution_id: execution_id(),
        runbook_id: runbook_id(),
        incident_id: incident_id(),
        approval_id: Some(approval_id()),
        document: "AWS-RunShellScript".to_owned(),
        commands: vec!["systemctl restart nginx".to_owned()],
        parameters: BTreeMap::new(),
        instance_ids: vec![instance(1)],
        requested_by: actor("tech-1", Role::Technician),
        reason: reason.to_owned(),
        at: now(),
    };
    given(vec![])
        .when(ExecutionCommand::RefuseExecution {
            execution_id: execution_id(),
            tenant_id: tenant_id(),
            runbook_id: runbook_id(),
            incident_id: incident_id(),
            approval_id: Some(approval_id()),
            document: "AWS-RunShellScript".to_owned(),
            commands: vec!["systemctl restart nginx".to_owned()],
            parameters: BTreeMap::new(),
            instance_ids: vec![instance(1)],
            requested_by: actor("tech-1", Role::Technician),
            reason: reason.to_owned(),
        })
        .then_expect_events(vec![refused.clone()]);
    given(vec![refused.clone()])
        .when(ExecutionCommand::MarkDispatching {
            comment: "alertledger execution".to_owned(),
        })
        .then_expect_error(ExecutionError::AlreadyFinished);
    given(vec![refused])
        .when(request_with("AWS-RunShellScript", vec![instance(1)]))
        .then_expect_error(ExecutionError::AlreadyRequested);
}
