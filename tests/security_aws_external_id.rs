//! Issue 16, item 5: the AWS confused deputy. A tenant admin who could pick
//! the external id could pick another customer's, and have the service
//! assume that customer's role. The service now generates each tenant's
//! external id (recorded as `AwsExternalIdIssued`), a request naming one is
//! 422, and only admins read it; roles configured before keep their id.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use alertledger_domain::tenant::{Tenant, TenantCommand};
use alertledger_domain::values::{Actor, AwsRoleConfig, Role, UserId};
use alertledger_domain::DomainServices;
use alertledger_eventstore::log::LogSignal;
use alertledger_eventstore::store::{AggregateStore, EventMetadata};
use reqwest::Method;
use serde_json::{json, Value};
use support::{TestApp, TestTenant};

const ROLE: &str = "arn:aws:iam::123456789012:role/AlertledgerRemediation";

async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = app.client.request(method, app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn put_role(app: &TestApp, tenant: &TestTenant, body: Value) -> (u16, Value) {
    let admin = app.token(Role::TenantAdmin, &[tenant.id]);
    let path = format!("/api/v1/tenants/{}/aws", tenant.id);
    send(app, Method::PUT, &path, &admin, Some(body)).await
}

#[tokio::test]
async fn a_tenant_admin_cannot_choose_the_external_id() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("deputy").await;
    // The attacker names another customer's external id.
    let (status, body) = put_role(
        &app,
        &tenant,
        json!({ "role_arn": ROLE, "external_id": "victim-external-id", "region": "us-east-1" }),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "invalid_value");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("external_id"),
        "{body}"
    );
    assert_eq!(app.stored("AwsExternalIdIssued").await, 0);
    assert_eq!(app.stored("AwsRoleConfigured").await, 0);
}

#[tokio::test]
async fn the_service_generates_a_unique_external_id_once_and_keeps_it() {
    let app = TestApp::spawn().await;
    let first = app.create_tenant("first").await;
    let second = app.create_tenant("second").await;

    let (status, one) = put_role(
        &app,
        &first,
        json!({ "role_arn": ROLE, "region": "us-east-1" }),
    )
    .await;
    assert_eq!(status, 200, "{one}");
    let generated = one["external_id"].as_str().unwrap().to_owned();
    assert_eq!(generated.len(), 32, "{generated}");
    assert!(generated
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));

    // Changing the role or region keeps the id the trust policy names.
    let other_role = "arn:aws:iam::123456789012:role/Other";
    let (status, again) = put_role(
        &app,
        &first,
        json!({ "role_arn": other_role, "region": "eu-west-1" }),
    )
    .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["external_id"], generated.as_str());
    assert_eq!(again["role_arn"], other_role);
    assert_eq!(app.stored("AwsExternalIdIssued").await, 1);

    let (status, two) = put_role(
        &app,
        &second,
        json!({ "role_arn": ROLE, "region": "us-east-1" }),
    )
    .await;
    assert_eq!(status, 200, "{two}");
    assert_ne!(
        two["external_id"],
        generated.as_str(),
        "two tenants share an external id"
    );
}

#[tokio::test]
async fn only_admins_read_the_external_id() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("readers").await;
    let (status, set) = put_role(
        &app,
        &tenant,
        json!({ "role_arn": ROLE, "region": "us-east-1" }),
    )
    .await;
    assert_eq!(status, 200, "{set}");
    let path = format!("/api/v1/tenants/{}", tenant.id);
    for role in [Role::Viewer, Role::Technician] {
        let token = app.token(role, &[tenant.id]);
        let (status, shown) = send(&app, Method::GET, &path, &token, None).await;
        assert_eq!(status, 200);
        assert_eq!(shown["aws"]["role_arn"], ROLE);
        assert!(
            shown["aws"].get("external_id").is_none(),
            "{role:?} read it: {shown}"
        );
    }
    for token in [
        app.token(Role::TenantAdmin, &[tenant.id]),
        app.token(Role::MspAdmin, &[]),
    ] {
        let (status, shown) = send(&app, Method::GET, &path, &token, None).await;
        assert_eq!(status, 200);
        assert_eq!(shown["aws"]["external_id"], set["external_id"]);
    }
}

#[tokio::test]
async fn a_role_configured_before_the_change_keeps_its_stored_external_id() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("legacy").await;
    // As recorded before the service generated external ids.
    let tenants: AggregateStore<Tenant> = AggregateStore::new(
        app.db.pool().clone(),
        DomainServices::system(),
        LogSignal::local(),
    );
    let legacy = TenantCommand::ConfigureAwsRole {
        config: AwsRoleConfig::new(ROLE, "chosen-long-ago", "us-east-1").unwrap(),
        actor: Actor::new(UserId::parse("admin").unwrap(), "Admin", Role::TenantAdmin),
    };
    // The domain refuses a chosen id today, so the old event is written as it was stored.
    let refused = tenants
        .execute(&tenant.id.to_string(), legacy, EventMetadata::default())
        .await;
    assert!(
        refused.is_err(),
        "the domain took a tenant-chosen external id"
    );
    let sequence: i64 = sqlx::query_scalar(
        "SELECT max(sequence) FROM events WHERE aggregate_type = 'Tenant' AND aggregate_id = $1",
    )
    .bind(tenant.id.to_string())
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         VALUES ('Tenant', $1, $2, 'AwsRoleConfigured', '1.0', $3, '{}')",
    )
    .bind(tenant.id.to_string())
    .bind(sequence + 1)
    .bind(json!({ "AwsRoleConfigured": {
        "tenant_id": tenant.id,
        "config": { "role_arn": ROLE, "external_id": "chosen-long-ago", "region": "us-east-1" },
        "actor": { "user_id": "admin", "name": "Admin", "role": "tenant_admin" },
        "at": "2026-01-01T00:00:00Z"
    }}))
    .execute(app.db.pool())
    .await
    .unwrap();

    let (status, moved) = put_role(
        &app,
        &tenant,
        json!({ "role_arn": "arn:aws:iam::123456789012:role/Other", "region": "us-east-1" }),
    )
    .await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(moved["external_id"], "chosen-long-ago");
    assert_eq!(app.stored("AwsExternalIdIssued").await, 0);
}
