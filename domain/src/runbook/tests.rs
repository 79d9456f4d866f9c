#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use cqrs_es::test::{AggregateTestExecutor, TestFramework};
use uuid::Uuid;

use super::*;
use crate::testing::{actor, now, services, tenant_id};
use crate::values::{
    Actor, AlertSignature, Risk, Role, RunbookAction, RunbookId, RunbookName, SsmDocumentName,
};

fn given(events: Vec<RunbookEvent>) -> AggregateTestExecutor<Runbook> {
    TestFramework::<Runbook>::with(services()).given(events)
}

fn runbook_id() -> RunbookId {
    RunbookId::from_uuid(Uuid::from_u128(0xb))
}

fn admin() -> Actor {
    actor("admin-1", Role::TenantAdmin)
}

fn spec(risk: Risk) -> RunbookSpec {
    RunbookSpec {
        name: RunbookName::parse("Restart nginx").unwrap(),
        signature: AlertSignature::parse("NginxDown").unwrap(),
        risk,
        action: RunbookAction::new(
            SsmDocumentName::default(),
            vec!["systemctl restart nginx".to_owned()],
            BTreeMap::new(),
        )
        .unwrap(),
        auto_execute: true,
    }
}

fn defined() -> RunbookEvent {
    RunbookEvent::RunbookDefined {
        tenant_id: tenant_id(),
        runbook_id: runbook_id(),
        runbook: spec(Risk::Low),
        actor: admin(),
        at: now(),
    }
}

#[test]
fn defining_a_runbook_records_everything_it_says() {
    given(vec![])
        .when(RunbookCommand::DefineRunbook {
            runbook_id: runbook_id(),
            tenant_id: tenant_id(),
            spec: spec(Risk::Low),
            actor: admin(),
        })
        .then_expect_events(vec![defined()]);
}

#[test]
fn a_runbook_is_defined_once() {
    given(vec![defined()])
        .when(RunbookCommand::DefineRunbook {
            runbook_id: runbook_id(),
            tenant_id: tenant_id(),
            spec: spec(Risk::High),
            actor: admin(),
        })
        .then_expect_error(RunbookError::AlreadyDefined);
}

#[test]
fn changing_a_runbook_records_the_new_spec_and_an_identical_save_records_nothing() {
    given(vec![defined()])
        .when(RunbookCommand::ChangeRunbook {
            spec: spec(Risk::Medium),
            actor: admin(),
        })
        .then_expect_events(vec![RunbookEvent::RunbookChanged {
            tenant_id: tenant_id(),
            runbook: spec(Risk::Medium),
            actor: admin(),
            at: now(),
        }]);
    given(vec![defined()])
        .when(RunbookCommand::ChangeRunbook {
            spec: spec(Risk::Low),
            actor: admin(),
        })
        .then_expect_events(vec![]);
}

#[test]
fn a_retired_runbook_cannot_change_or_retire_again() {
    let retired = RunbookEvent::RunbookRetired {
        tenant_id: tenant_id(),
        actor: admin(),
        at: now(),
    };
    given(vec![defined()])
        .when(RunbookCommand::RetireRunbook { actor: admin() })
        .then_expect_events(vec![retired.clone()]);
    given(vec![defined(), retired.clone()])
        .when(RunbookCommand::ChangeRunbook {
            spec: spec(Risk::Medium),
            actor: admin(),
        })
        .then_expect_error(RunbookError::Retired);
    given(vec![defined(), retired])
        .when(RunbookCommand::RetireRunbook { actor: admin() })
        .then_expect_error(RunbookError::Retired);
}

#[test]
fn an_undefined_runbook_cannot_change() {
    given(vec![])
        .when(RunbookCommand::RetireRunbook { actor: admin() })
        .then_expect_error(RunbookError::NotDefined);
}

#[test]
fn shell_documents_need_commands_and_parameter_names_are_checked() {
    let shell = SsmDocumentName::default();
    assert!(RunbookAction::new(shell.clone(), vec![], BTreeMap::new()).is_err());
    assert!(RunbookAction::new(shell.clone(), vec!["  ".to_owned()], BTreeMap::new()).is_err());
    let other = SsmDocumentName::parse("AWS-ConfigureAWSPackage").unwrap();
    assert!(RunbookAction::new(other.clone(), vec![], BTreeMap::new()).is_err());
    let params = BTreeMap::from([("name".to_owned(), vec!["AmazonCloudWatchAgent".to_owned()])]);
    let action = RunbookAction::new(other.clone(), vec![], params).unwrap();
    assert_eq!(action.send_parameters().len(), 1);
    let sneaky = BTreeMap::from([("commands".to_owned(), vec!["rm -rf /".to_owned()])]);
    assert!(RunbookAction::new(other, vec![], sneaky).is_err());
    assert!(SsmDocumentName::parse("a b").is_err());
    assert!(SsmDocumentName::parse("arn:aws:ssm:eu-west-1:123456789012:document/Fix").is_ok());
}

#[test]
fn a_runbook_spec_survives_its_json_form() {
    let json = serde_json::to_value(spec(Risk::High)).unwrap();
    assert_eq!(json["action"]["document"], "AWS-RunShellScript");
    assert_eq!(json["risk"], "high");
    let back: RunbookSpec = serde_json::from_value(json).unwrap();
    assert_eq!(back, spec(Risk::High));
}
