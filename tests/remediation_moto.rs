//! The whole remediation flow against moto, a local AWS double (STS
//! AssumeRole, SSM SendCommand / GetCommandInvocation / ListCommands), with
//! the real aws-sdk-ssm client: a matching alert opens an incident, the
//! low-risk runbook runs by itself, the execution succeeds, the incident is
//! resolved as self-healed, the KPI counts it, and every step is in the
//! incident's timeline and the audit log.
//!
//! `scripts/test.sh` installs moto (PyPI `moto[server]`) into a virtualenv,
//! starts it on a free loopback port and sets `ALERTLEDGER_TEST_AWS_ENDPOINT`
//! and dummy AWS credentials for this test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;

use alertledger_domain::values::Role;
use alertledger_ssm::{AwsSsm, SsmService};
use serde_json::Value;
use support::remediation::{
    alert_and_incident, define_runbook, execution_until, incident_until, prepare_tenant,
    quick_background, INSTANCE,
};
use support::TestApp;

fn moto_endpoint() -> String {
    let endpoint = std::env::var("ALERTLEDGER_TEST_AWS_ENDPOINT").expect(
        "ALERTLEDGER_TEST_AWS_ENDPOINT is not set: run the suite with scripts/test.sh, which starts moto",
    );
    assert!(
        std::env::var("AWS_ACCESS_KEY_ID").is_ok(),
        "AWS_ACCESS_KEY_ID is not set: scripts/test.sh sets dummy credentials for moto"
    );
    endpoint
}

fn kpi_auto_remediated(body: &Value) -> i64 {
    body["auto_remediated"].as_i64().unwrap_or(-1)
}

#[tokio::test]
async fn a_matching_alert_is_self_healed_through_moto_and_every_step_is_recorded() {
    let endpoint = moto_endpoint();
    let ssm: Arc<dyn SsmService> = Arc::new(AwsSsm::from_environment(Some(&endpoint)).await);
    let app = TestApp::spawn_with_background(quick_background(ssm)).await;
    let tenant = app.create_tenant("moto-flow").await;
    prepare_tenant(&app, &tenant).await;
    define_runbook(&app, &tenant, "low", true).await;
    let admin = app.token(Role::TenantAdmin, &[tenant.id]);
    let kpis = format!("/api/v1/kpis?tenant={}", tenant.id);
    let before = app.get_until(&kpis, &admin, |_| true).await;
    assert_eq!(kpi_auto_remediated(&before), 0, "{before}");

    let incident = alert_and_incident(&app, &tenant).await;
    // The incident and the remediation entries of its timeline come from two
    // projectors: wait for both.
    let detail = incident_until(&app, &tenant, &incident, |body| {
        body["status"] == "resolved"
            && body["timeline"].as_array().is_some_and(|entries| {
                entries
                    .iter()
                    .any(|e| e["event_type"] == "ExecutionSucceeded")
            })
    })
    .await;
    assert_eq!(detail["resolution"]["kind"], "self_healed", "{detail}");

    let execution = execution_until(&app, &tenant, |body| body["status"] == "succeeded").await;
    let command_id = execution["command_id"].as_str().unwrap();
    assert!(!command_id.is_empty());
    assert_eq!(
        execution["invocations"][INSTANCE]["status"], "Success",
        "{execution}"
    );

    let timeline: Vec<&str> = detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        timeline,
        [
            "IncidentOpened",
            "ExecutionRequested",
            "ExecutionDispatching",
            "ExecutionDispatched",
            "InvocationUpdated",
            "ExecutionSucceeded",
            "IncidentResolved",
        ],
        "{detail}"
    );

    let audit = app
        .get_until(
            &format!("/api/v1/audit?tenant={}", tenant.id),
            &admin,
            |body| {
                body["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|entry| entry["action"] == "incident_resolved")
            },
        )
        .await;
    let entries = audit["items"].as_array().unwrap();
    let actor_of = |action: &str| {
        entries
            .iter()
            .find(|entry| entry["action"] == action)
            .map(|entry| entry["actor"].as_str().unwrap_or_default().to_owned())
            .unwrap_or_else(|| panic!("{action} missing from the audit log: {audit}"))
    };
    assert_eq!(actor_of("runbook_defined"), "user:user-tenant_admin");
    assert_eq!(actor_of("execution_requested"), "worker:runbook-dispatcher");
    assert_eq!(actor_of("execution_dispatched"), "worker:ssm-executor");
    assert_eq!(actor_of("execution_succeeded"), "worker:ssm-executor");
    assert_eq!(actor_of("incident_resolved"), "worker:runbook-dispatcher");

    let after = app
        .get_until(&kpis, &admin, |body| kpi_auto_remediated(body) == 1)
        .await;
    assert_eq!(after["incidents"], 1, "{after}");
}
