//! Setting up remediation for end-to-end tests: a tenant whose asset has
//! instances and whose AWS role is configured, runbooks, and waiting for
//! incidents, approvals and executions to reach a state.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use alertledger_domain::values::Role;
use alertledger_workers::background::WorkerSettings;
use alertledger_workers::remediation::ExecutorSettings;
use serde_json::{json, Value};

use super::{generic_alert, TestApp, TestTenant};

pub const INSTANCE: &str = "i-0123456789abcdef0";

/// Background settings with a quick executor and expirer, and `ssm`.
pub fn quick_background(ssm: std::sync::Arc<dyn alertledger_ssm::SsmService>) -> WorkerSettings {
    WorkerSettings {
        ssm: Some(ssm),
        expiry_check: Duration::from_millis(100),
        executor: ExecutorSettings {
            timeout: Duration::from_secs(60),
            first_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(200),
            queue_poll: Duration::from_millis(100),
            standby_retry: Duration::from_millis(100),
        },
        ..WorkerSettings::default()
    }
}

/// Registers asset `web01` with one instance and an AWS role for `tenant`.
pub async fn prepare_tenant(app: &TestApp, tenant: &TestTenant) {
    let admin = app.token(Role::TenantAdmin, &[tenant.id]);
    let response = app
        .client
        .put(app.url(&format!("/api/v1/tenants/{}/assets/web01", tenant.id)))
        .bearer_auth(&admin)
        .json(&json!({ "critical": false, "instance_ids": [INSTANCE] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let response = app
        .client
        .put(app.url(&format!("/api/v1/tenants/{}/aws", tenant.id)))
        .bearer_auth(&admin)
        .json(&json!({
            "role_arn": "arn:aws:iam::123456789012:role/AlertledgerRemediation",
            "region": "us-east-1"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
}

/// Defines a runbook for signature `HighCPU` and returns its JSON.
pub async fn define_runbook(
    app: &TestApp,
    tenant: &TestTenant,
    risk: &str,
    auto_execute: bool,
) -> Value {
    let admin = app.token(Role::TenantAdmin, &[tenant.id]);
    let response = app
        .client
        .post(app.url("/api/v1/runbooks"))
        .bearer_auth(&admin)
        .json(&json!({
            "tenant_id": tenant.id,
            "name": format!("Restart the busy service ({risk})"),
            "signature": "HighCPU",
            "risk": risk,
            "document": "AWS-RunShellScript",
            "commands": ["systemctl restart app"],
            "auto_execute": auto_execute
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    response.json().await.unwrap()
}

/// Posts an alert on `web01` and waits for its incident; returns the incident id.
pub async fn alert_and_incident(app: &TestApp, tenant: &TestTenant) -> String {
    let response = app.post_alert(tenant, &generic_alert("web01")).await;
    assert_eq!(response.status(), 202);
    let viewer = app.token(Role::Viewer, &[tenant.id]);
    let page = app
        .get_until(
            &format!("/api/v1/incidents?tenant={}", tenant.id),
            &viewer,
            |body| {
                body["items"]
                    .as_array()
                    .is_some_and(|items| !items.is_empty())
            },
        )
        .await;
    page["items"][0]["incident_id"].as_str().unwrap().to_owned()
}

/// Waits until incident `id` satisfies `done`; returns its detail.
pub async fn incident_until(
    app: &TestApp,
    tenant: &TestTenant,
    id: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let viewer = app.token(Role::Viewer, &[tenant.id]);
    app.get_until(&format!("/api/v1/incidents/{id}"), &viewer, done)
        .await
}

/// Waits for the first execution of `tenant` to satisfy `done`.
pub async fn execution_until(
    app: &TestApp,
    tenant: &TestTenant,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let viewer = app.token(Role::Viewer, &[tenant.id]);
    let page = app
        .get_until(
            &format!("/api/v1/executions?tenant={}", tenant.id),
            &viewer,
            |body| {
                body["items"]
                    .as_array()
                    .and_then(|items| items.first())
                    .is_some_and(&done)
            },
        )
        .await;
    page["items"][0].clone()
}

/// Waits for the first approval of `tenant` to satisfy `done`.
pub async fn approval_until(
    app: &TestApp,
    tenant: &TestTenant,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let viewer = app.token(Role::Viewer, &[tenant.id]);
    let page = app
        .get_until(
            &format!("/api/v1/approvals?tenant={}", tenant.id),
            &viewer,
            |body| {
                body["items"]
                    .as_array()
                    .and_then(|items| items.first())
                    .is_some_and(&done)
            },
        )
        .await;
    page["items"][0].clone()
}

/// POSTs `body` to `path` as `token`; the status and JSON answer.
pub async fn post(app: &TestApp, path: &str, token: &str, body: Value) -> (u16, Value) {
    let response = app
        .client
        .post(app.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}
