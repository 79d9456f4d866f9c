//! Runbooks, approvals and SSM execution end to end over HTTP, with a
//! scripted SSM double for the paths moto cannot produce (failure, timeout,
//! throttling, a crash between SendCommand and recording its id), and the
//! approval rules of API.md.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use alertledger_domain::values::{InstanceId, InvocationStatus, Role};
use alertledger_domain::DomainServices;
use alertledger_eventstore::log::LogSignal;
use alertledger_ssm::scripted::{report, ScriptedSsm, SendOutcome};
use alertledger_ssm::{PatchState, SsmError, SsmService};
use alertledger_workers::background::WorkerSettings;
use alertledger_workers::remediation::SsmExecutor;
use serde_json::{json, Value};
use support::remediation::{
    alert_and_incident, approval_until, define_runbook, execution_until, incident_until, post,
    prepare_tenant, quick_background, INSTANCE,
};
use support::{TestApp, TestTenant};

async fn app_with(ssm: &Arc<ScriptedSsm>) -> TestApp {
    TestApp::spawn_with_background(quick_background(ssm.clone() as Arc<dyn SsmService>)).await
}

async fn ready_tenant(app: &TestApp, slug: &str) -> TestTenant {
    let tenant = app.create_tenant(slug).await;
    prepare_tenant(app, &tenant).await;
    tenant
}

fn instance() -> InstanceId {
    InstanceId::parse(INSTANCE).unwrap()
}

fn timeline_has(detail: &Value, event_type: &str) -> bool {
    detail["timeline"].as_array().is_some_and(|entries| {
        entries
            .iter()
            .any(|entry| entry["event_type"] == event_type)
    })
}

fn status_is(status: &'static str) -> impl Fn(&Value) -> bool {
    move |body| body["status"] == status
}

#[tokio::test]
async fn a_low_risk_runbook_runs_by_itself_and_resolves_the_incident_as_self_healed() {
    let ssm = Arc::new(ScriptedSsm::new());
    let app = app_with(&ssm).await;
    let tenant = ready_tenant(&app, "healed").await;
    define_runbook(&app, &tenant, "low", true).await;
    let incident = alert_and_incident(&app, &tenant).await;

    let detail = incident_until(&app, &tenant, &incident, status_is("resolved")).await;
    assert_eq!(detail["resolution"]["kind"], "self_healed", "{detail}");
    let execution = execution_until(&app, &tenant, status_is("succeeded")).await;
    assert_eq!(execution["invocations"][INSTANCE]["status"], "Success");
    let sent = ssm.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].parameters["commands"],
        vec!["systemctl restart app"]
    );
    assert_eq!(sent[0].instance_ids, vec![instance()]);
    assert_eq!(
        sent[0].comment,
        format!(
            "alertledger execution {}",
            execution["execution_id"].as_str().unwrap()
        )
    );
}

#[tokio::test]
async fn a_failed_invocation_fails_the_execution_and_escalates_the_incident() {
    let ssm = Arc::new(ScriptedSsm::new());
    ssm.script_invocations(
        &instance(),
        [
            Ok(report(InvocationStatus::InProgress, None, "")),
            Ok(report(
                InvocationStatus::Failed,
                Some(3),
                "unit app.service not found",
            )),
        ],
    );
    let app = app_with(&ssm).await;
    let tenant = ready_tenant(&app, "failing").await;
    define_runbook(&app, &tenant, "low", true).await;
    let incident = alert_and_incident(&app, &tenant).await;

    // The incident and the remediation entries of its timeline come from two
    // projectors: wait for both.
    let detail = incident_until(&app, &tenant, &incident, |body| {
        body["status"] == "escalated" && timeline_has(body, "ExecutionFailed")
    })
    .await;
    let execution = execution_until(&app, &tenant, status_is("failed")).await;
    assert!(
        execution["failure_reason"]
            .as_str()
            .unwrap()
            .contains("exit code 3"),
        "{execution}"
    );
    assert_eq!(
        execution["invocations"][INSTANCE]["stdout"],
        "unit app.service not found"
    );
    let timeline: Vec<&str> = detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["event_type"].as_str().unwrap())
        .collect();
    for expected in [
        "IncidentOpened",
        "ExecutionRequested",
        "ExecutionDispatching",
        "ExecutionDispatched",
        "InvocationUpdated",
        "ExecutionFailed",
        "IncidentEscalated",
    ] {
        assert!(
            timeline.contains(&expected),
            "{expected} missing from {timeline:?}"
        );
    }
}

#[tokio::test]
async fn an_execution_past_its_timeout_times_out_and_escalates_the_incident() {
    let ssm = Arc::new(ScriptedSsm::new());
    ssm.script_invocations(
        &instance(),
        [Ok(report(InvocationStatus::InProgress, None, ""))],
    );
    let mut settings = quick_background(ssm.clone() as Arc<dyn SsmService>);
    settings.executor.timeout = Duration::from_secs(2);
    let app = TestApp::spawn_with_background(settings).await;
    let tenant = ready_tenant(&app, "slow").await;
    define_runbook(&app, &tenant, "low", true).await;
    let incident = alert_and_incident(&app, &tenant).await;

    execution_until(&app, &tenant, status_is("timed_out")).await;
    let detail = incident_until(&app, &tenant, &incident, status_is("escalated")).await;
    let escalation = detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["event_type"] == "IncidentEscalated")
        .unwrap();
    assert!(
        escalation["details"]["reason"]
            .as_str()
            .unwrap()
            .contains("did not finish in time"),
        "{escalation}"
    );
}

#[tokio::test]
async fn throttled_sends_are_retried_with_backoff_and_the_command_goes_out_once() {
    let ssm = Arc::new(ScriptedSsm::new());
    let throttled = || {
        SendOutcome::Fail(SsmError::Throttled {
            code: "ThrottlingException".to_owned(),
        })
    };
    ssm.script_sends([throttled(), throttled(), SendOutcome::Accept]);
    let app = app_with(&ssm).await;
    let tenant = ready_tenant(&app, "throttled").await;
    define_runbook(&app, &tenant, "low", true).await;
    let incident = alert_and_incident(&app, &tenant).await;

    incident_until(&app, &tenant, &incident, status_is("resolved")).await;
    assert_eq!(ssm.send_calls(), 3);
    assert_eq!(ssm.sent().len(), 1);
}

#[tokio::test]
async fn a_permanent_aws_error_fails_the_execution_with_its_code() {
    let ssm = Arc::new(ScriptedSsm::new());
    ssm.script_sends([SendOutcome::Fail(SsmError::Permanent {
        code: "InvalidInstanceId".to_owned(),
        message: "Instances not in a valid state".to_owned(),
    })]);
    let app = app_with(&ssm).await;
    let tenant = ready_tenant(&app, "refused").await;
    define_runbook(&app, &tenant, "low", true).await;
    let incident = alert_and_incident(&app, &tenant).await;

    let execution = execution_until(&app, &tenant, status_is("failed")).await;
    assert_eq!(execution["error_code"], "InvalidInstanceId");
    incident_until(&app, &tenant, &incident, status_is("escalated")).await;
    assert_eq!(ssm.send_calls(), 1);
}

#[tokio::test]
async fn a_crash_after_send_command_does_not_send_a_second_command() {
    let ssm = Arc::new(ScriptedSsm::new());
    // The first executor's SendCommand reaches SSM, but the process "dies"
    // before it can record the command id.
    ssm.script_sends([SendOutcome::AcceptThenHang]);
    let mut settings = quick_background(ssm.clone() as Arc<dyn SsmService>);
    settings.ssm = None; // this test runs the executor itself
    let app = TestApp::spawn_with_background(settings.clone()).await;
    let tenant = ready_tenant(&app, "crashy").await;
    define_runbook(&app, &tenant, "low", true).await;
    let executor = |ssm: Arc<ScriptedSsm>| {
        SsmExecutor::new(
            app.db.pool().clone(),
            LogSignal::local(),
            DomainServices::system(),
            ssm,
            settings.executor.clone(),
        )
        .spawn()
    };
    let first = executor(ssm.clone());
    let incident = alert_and_incident(&app, &tenant).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while ssm.sent().is_empty() {
        assert!(Instant::now() < deadline, "the command was never sent");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.abort();
    let _ = first.await;
    execution_until(&app, &tenant, status_is("dispatching")).await;

    let second = executor(ssm.clone());
    let detail = incident_until(&app, &tenant, &incident, status_is("resolved")).await;
    second.abort();
    assert_eq!(detail["resolution"]["kind"], "self_healed");
    assert_eq!(ssm.send_calls(), 1, "a second SendCommand went out");
    let execution = execution_until(&app, &tenant, status_is("succeeded")).await;
    assert_eq!(execution["command_id"], "scripted-command-1");
}

#[tokio::test]
async fn medium_risk_needs_an_approval_by_a_tenant_admin_who_did_not_ask() {
    let ssm = Arc::new(ScriptedSsm::new());
    let app = app_with(&ssm).await;
    let tenant = ready_tenant(&app, "medium").await;
    let runbook = define_runbook(&app, &tenant, "medium", false).await;
    let incident = alert_and_incident(&app, &tenant).await;
    let requester = app.token_for("alice", Role::TenantAdmin, &[tenant.id]);
    let technician = app.token(Role::Technician, &[tenant.id]);
    let other_admin = app.token_for("bob", Role::TenantAdmin, &[tenant.id]);

    let path = format!(
        "/api/v1/runbooks/{}/execute",
        runbook["runbook_id"].as_str().unwrap()
    );
    let (status, request) = post(&app, &path, &requester, json!({ "incident_id": incident })).await;
    assert_eq!(status, 202, "{request}");
    assert_eq!(request["status"], "pending");
    let approval = request["approval_id"].as_str().unwrap().to_owned();
    approval_until(&app, &tenant, status_is("pending")).await;
    let approve = format!("/api/v1/approvals/{approval}/approve");

    let (status, body) = post(&app, &approve, &requester, json!({})).await;
    assert_eq!(
        status, 403,
        "the requester approved their own request: {body}"
    );
    let (status, body) = post(&app, &approve, &technician, json!({})).await;
    assert_eq!(status, 403, "a technician approved medium risk: {body}");
    assert!(ssm.sent().is_empty());

    let (status, body) = post(&app, &approve, &other_admin, json!({ "reason": "go" })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "granted");
    incident_until(&app, &tenant, &incident, status_is("resolved")).await;
    let execution = execution_until(&app, &tenant, status_is("succeeded")).await;
    assert_eq!(execution["approval_id"], approval);
    assert_eq!(ssm.sent().len(), 1);

    let (status, body) = post(&app, &approve, &other_admin, json!({})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("approval_already_decided"))
    );
}

#[tokio::test]
async fn high_risk_is_approved_by_an_msp_admin_only_and_a_rejection_is_final() {
    let ssm = Arc::new(ScriptedSsm::new());
    let app = app_with(&ssm).await;
    let tenant = ready_tenant(&app, "high").await;
    // auto_execute: the dispatcher asks for the approval when the incident opens.
    define_runbook(&app, &tenant, "high", true).await;
    alert_and_incident(&app, &tenant).await;
    let approval = approval_until(&app, &tenant, status_is("pending")).await;
    assert_eq!(approval["requested_by"], "worker:runbook-dispatcher");
    assert_eq!(approval["risk"], "high");
    let id = approval["approval_id"].as_str().unwrap();

    let tenant_admin = app.token(Role::TenantAdmin, &[tenant.id]);
    let (status, _) = post(
        &app,
        &format!("/api/v1/approvals/{id}/approve"),
        &tenant_admin,
        json!({}),
    )
    .await;
    assert_eq!(status, 403);
    let msp_admin = app.token(Role::MspAdmin, &[]);
    let (status, body) = post(
        &app,
        &format!("/api/v1/approvals/{id}/reject"),
        &msp_admin,
        json!({ "reason": "not now" }),
    )
    .await;
    assert_eq!((status, body["status"].as_str()), (200, Some("rejected")));
    let (status, body) = post(
        &app,
        &format!("/api/v1/approvals/{id}/approve"),
        &msp_admin,
        json!({}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("approval_already_decided"))
    );
    approval_until(&app, &tenant, status_is("rejected")).await;
    assert!(ssm.sent().is_empty());
}

#[tokio::test]
async fn an_expired_approval_cannot_be_used() {
    let ssm = Arc::new(ScriptedSsm::new());
    let settings = WorkerSettings {
        approval_ttl: Duration::from_secs(1),
        ..quick_background(ssm.clone() as Arc<dyn SsmService>)
    };
    let app = TestApp::spawn_with_background(settings).await;
    let tenant = ready_tenant(&app, "expiring").await;
    define_runbook(&app, &tenant, "medium", true).await;
    alert_and_incident(&app, &tenant).await;
    let approval = approval_until(&app, &tenant, status_is("expired")).await;
    let id = approval["approval_id"].as_str().unwrap();

    let admin = app.token(Role::TenantAdmin, &[tenant.id]);
    let (status, body) = post(
        &app,
        &format!("/api/v1/approvals/{id}/approve"),
        &admin,
        json!({}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("approval_already_decided")),
        "{body}"
    );
    assert!(ssm.sent().is_empty());
}

#[tokio::test]
async fn a_technician_runs_a_low_risk_runbook_by_hand_and_a_viewer_may_not() {
    let ssm = Arc::new(ScriptedSsm::new());
    let app = app_with(&ssm).await;
    let tenant = ready_tenant(&app, "by-hand").await;
    let runbook = define_runbook(&app, &tenant, "low", false).await;
    let incident = alert_and_incident(&app, &tenant).await;
    let path = format!(
        "/api/v1/runbooks/{}/execute",
        runbook["runbook_id"].as_str().unwrap()
    );

    let viewer = app.token(Role::Viewer, &[tenant.id]);
    let (status, _) = post(&app, &path, &viewer, json!({ "incident_id": incident })).await;
    assert_eq!(status, 403);
    let technician = app.token(Role::Technician, &[tenant.id]);
    let (status, body) = post(&app, &path, &technician, json!({ "incident_id": incident })).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["status"], "requested");
    let detail = incident_until(&app, &tenant, &incident, status_is("resolved")).await;
    assert_eq!(detail["resolution"]["kind"], "self_healed");
    let (status, body) = post(&app, &path, &technician, json!({ "incident_id": incident })).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("incident_resolved"))
    );
}

#[tokio::test]
async fn another_tenants_runbooks_approvals_and_executions_are_not_found() {
    let ssm = Arc::new(ScriptedSsm::new());
    let app = app_with(&ssm).await;
    let owner = ready_tenant(&app, "owner").await;
    let stranger = app.create_tenant("stranger").await;
    let runbook = define_runbook(&app, &owner, "medium", true).await;
    let incident = alert_and_incident(&app, &owner).await;
    let approval = approval_until(&app, &owner, status_is("pending")).await;
    let runbook_id = runbook["runbook_id"].as_str().unwrap();
    let approval_id = approval["approval_id"].as_str().unwrap();
    let outsider = app.token(Role::TenantAdmin, &[stranger.id]);

    for path in [
        format!("/api/v1/runbooks/{runbook_id}"),
        format!("/api/v1/approvals/{approval_id}"),
    ] {
        let response = app
            .client
            .get(app.url(&path))
            .bearer_auth(&outsider)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "GET {path}");
    }
    let (status, _) = post(
        &app,
        &format!("/api/v1/approvals/{approval_id}/approve"),
        &outsider,
        json!({}),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = post(
        &app,
        &format!("/api/v1/runbooks/{runbook_id}/execute"),
        &outsider,
        json!({ "incident_id": incident }),
    )
    .await;
    assert_eq!(status, 404);
    let response = app
        .client
        .put(app.url(&format!("/api/v1/runbooks/{runbook_id}")))
        .bearer_auth(&outsider)
        .json(&json!({ "name": "x", "signature": "HighCPU", "risk": "low", "commands": ["true"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let (status, _) = post(&app, "/api/v1/runbooks", &outsider, json!({
        "tenant_id": owner.id, "name": "x", "signature": "HighCPU", "risk": "low", "commands": ["true"]
    }))
    .await;
    assert_eq!(status, 404);
    for list in [
        "/api/v1/runbooks",
        "/api/v1/approvals",
        "/api/v1/executions",
    ] {
        let page = app.get_until(list, &outsider, |_| true).await;
        assert_eq!(
            page["items"],
            json!([]),
            "{list} shows another tenant's rows"
        );
    }
}

#[tokio::test]
async fn runbook_changes_are_validated_recorded_and_audited() {
    let ssm = Arc::new(ScriptedSsm::new());
    let app = app_with(&ssm).await;
    let tenant = ready_tenant(&app, "config").await;
    let admin = app.token(Role::TenantAdmin, &[tenant.id]);
    let technician = app.token(Role::Technician, &[tenant.id]);
    let invalid = [
        (
            json!({ "tenant_id": tenant.id, "name": "x", "signature": "S", "risk": "extreme", "commands": ["true"] }),
            "risk",
        ),
        (
            json!({ "tenant_id": tenant.id, "name": "x", "signature": "S", "risk": "low", "commands": [] }),
            "commands",
        ),
        (
            json!({ "tenant_id": tenant.id, "name": "x", "signature": "S", "risk": "low", "document": "bad doc", "commands": ["true"] }),
            "document",
        ),
    ];
    for (body, field) in invalid {
        let (status, answer) = post(&app, "/api/v1/runbooks", &admin, body).await;
        assert_eq!(status, 422, "{answer}");
        assert!(
            answer["error"]["message"].as_str().unwrap().contains(field),
            "{answer}"
        );
    }
    let (status, _) = post(&app, "/api/v1/runbooks", &technician, json!({
        "tenant_id": tenant.id, "name": "x", "signature": "S", "risk": "low", "commands": ["true"]
    }))
    .await;
    assert_eq!(status, 403);
    for list in [
        "/api/v1/approvals?status=bogus",
        "/api/v1/runbooks?status=pending",
    ] {
        let response = app
            .client
            .get(app.url(list))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 422, "GET {list}");
    }

    let runbook = define_runbook(&app, &tenant, "low", true).await;
    let id = runbook["runbook_id"].as_str().unwrap();
    let response = app
        .client
        .put(app.url(&format!("/api/v1/runbooks/{id}")))
        .bearer_auth(&admin)
        .json(&json!({ "name": "Restart", "signature": "HighCPU", "risk": "medium", "commands": ["systemctl restart app"], "auto_execute": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let response = app
        .client
        .delete(app.url(&format!("/api/v1/runbooks/{id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["retired"], true);

    let audit = app
        .get_until(
            &format!("/api/v1/audit?tenant={}", tenant.id),
            &admin,
            |body| {
                let actions: Vec<&str> = body["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(|entry| entry["action"].as_str())
                    .collect();
                ["runbook_defined", "runbook_changed", "runbook_retired"]
                    .iter()
                    .all(|action| actions.contains(action))
            },
        )
        .await;
    assert!(audit.to_string().contains("user:user-tenant_admin"));
    // A retired runbook never runs again.
    let incident = alert_and_incident(&app, &tenant).await;
    let page = app
        .get_until(
            &format!("/api/v1/runbooks?tenant={}", tenant.id),
            &admin,
            |body| body["items"][0]["retired"] == true,
        )
        .await;
    assert_eq!(page["items"][0]["risk"], "medium");
    incident_until(&app, &tenant, &incident, status_is("new")).await;
    assert!(ssm.sent().is_empty());
}

#[tokio::test]
async fn patch_compliance_reads_each_registered_instance_through_ssm() {
    let ssm = Arc::new(ScriptedSsm::new());
    ssm.set_patch_states(vec![PatchState {
        instance_id: INSTANCE.to_owned(),
        baseline_id: "pb-0123456789abcdef0".to_owned(),
        operation: "Scan".to_owned(),
        installed: 42,
        missing: 3,
        failed: 0,
        operation_end: None,
    }]);
    let app = app_with(&ssm).await;
    let tenant = ready_tenant(&app, "patched").await;
    let viewer = app.token(Role::Viewer, &[tenant.id]);
    let body = app
        .get_until(
            &format!("/api/v1/patch-compliance?tenant={}", tenant.id),
            &viewer,
            |_| true,
        )
        .await;
    assert_eq!(body["instances"][0]["missing"], 3);
    let other = app.create_tenant("unpatched").await;
    let outsider = app.token(Role::Viewer, &[other.id]);
    let response = app
        .client
        .get(app.url(&format!("/api/v1/patch-compliance?tenant={}", tenant.id)))
        .bearer_auth(&outsider)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn an_approval_granted_after_the_incident_was_resolved_runs_nothing() {
    let ssm = Arc::new(ScriptedSsm::new());
    let app = app_with(&ssm).await;
    let tenant = ready_tenant(&app, "too-late").await;
    let runbook = define_runbook(&app, &tenant, "medium", false).await;
    let incident = alert_and_incident(&app, &tenant).await;
    let technician = app.token(Role::Technician, &[tenant.id]);
    let path = format!(
        "/api/v1/runbooks/{}/execute",
        runbook["runbook_id"].as_str().unwrap()
    );
    let (status, request) =
        post(&app, &path, &technician, json!({ "incident_id": incident })).await;
    assert_eq!(status, 202, "{request}");
    let resolve = format!("/api/v1/incidents/{incident}/resolve");
    let (status, _) = post(
        &app,
        &resolve,
        &technician,
        json!({ "note": "fixed by hand" }),
    )
    .await;
    assert_eq!(status, 200);

    let approve = format!(
        "/api/v1/approvals/{}/approve",
        request["approval_id"].as_str().unwrap()
    );
    let admin = app.token(Role::TenantAdmin, &[tenant.id]);
    let (status, _) = post(&app, &approve, &admin, json!({})).await;
    assert_eq!(status, 200);
    let detail = incident_until(&app, &tenant, &incident, |body| {
        body["timeline"].as_array().is_some_and(|entries| {
            entries.iter().any(|entry| {
                entry["event_type"] == "IncidentCommented"
                    && entry["summary"]
                        .as_str()
                        .unwrap_or_default()
                        .contains("resolved meanwhile")
            })
        })
    })
    .await;
    assert_eq!(detail["resolution"]["kind"], "manual");
    assert!(ssm.sent().is_empty());
    assert!(!timeline_has(&detail, "ExecutionRequested"));
}
