//! Built-in users managed through the API: invitations with a password or
//! an invite token, validation naming the field, role and tenant limits of
//! tenant admins, viewers refused, changes recorded as events without any
//! secret, and disabling that ends the user's tokens.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use alertledger_domain::values::Role;
use serde_json::{json, Value};
use support::TestApp;

const PASSWORD: &str = "violet kettle orbit 42";

async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> (u16, Value) {
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

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    token: &str,
    path: &str,
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

async fn login(app: &TestApp, email: &str, password: &str) -> (u16, Value) {
    let response = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn field(body: &Value) -> &str {
    body["error"]["details"]["field"]
        .as_str()
        .unwrap_or_default()
}

#[tokio::test]
async fn users_are_managed_within_roles_and_tenants_and_every_change_is_an_event() {
    let app = TestApp::spawn().await;
    let a = app.create_tenant("users-a").await;
    let b = app.create_tenant("users-b").await;
    let msp = app.token(Role::MspAdmin, &[]);

    // Validation names the field.
    for (body, expected) in [
        (
            json!({"email": "not-an-email", "name": "X", "role": "viewer", "tenants": [a.id]}),
            "email",
        ),
        (
            json!({"email": "x@example.com", "name": "X", "role": "overlord", "tenants": [a.id]}),
            "role",
        ),
        (
            json!({"email": "x@example.com", "name": "X", "role": "viewer", "tenants": [uuid::Uuid::now_v7()]}),
            "tenants",
        ),
        (
            json!({"email": "x@example.com", "name": "X", "role": "viewer", "tenants": []}),
            "tenants",
        ),
        (
            json!({"email": "x@example.com", "name": "X", "role": "viewer", "tenants": [a.id], "password": "short"}),
            "password",
        ),
        (
            json!({"email": "x@example.com", "name": " ", "role": "viewer", "tenants": [a.id]}),
            "name",
        ),
    ] {
        let (status, answer) = post(&app, &msp, "/api/v1/users", body.clone()).await;
        assert_eq!(status, 422, "{body} -> {answer}");
        assert_eq!(field(&answer), expected, "{answer}");
    }

    // An msp_admin invites a tenant admin of A, with a password.
    let (status, admin_a) = post(
        &app,
        &msp,
        "/api/v1/users",
        json!({"email": "Ada@Example.com", "name": "Ada", "role": "tenant_admin", "tenants": [a.id], "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 201, "{admin_a}");
    assert_eq!(admin_a["email"], "ada@example.com");
    assert_eq!(admin_a["has_password"], true);
    assert_eq!(admin_a["id"], admin_a["user_id"]);
    assert!(admin_a.get("invite_token").is_none());
    assert!(!admin_a.to_string().contains("argon2"));
    let (status, _) = post(
        &app,
        &msp,
        "/api/v1/users",
        json!({"email": "ada@example.com", "name": "Ada 2", "role": "viewer", "tenants": [a.id]}),
    )
    .await;
    assert_eq!(status, 409, "one account per email");
    let (status, only_b) = post(
        &app,
        &msp,
        "/api/v1/users",
        json!({"email": "bob@example.com", "name": "Bob", "role": "viewer", "tenants": [b.id]}),
    )
    .await;
    assert_eq!(status, 201);

    // Viewers and technicians manage no users.
    for role in [Role::Viewer, Role::Technician] {
        let token = app.token(role, &[a.id]);
        let (status, _) = send(&app, reqwest::Method::GET, &token, "/api/v1/users", None).await;
        assert_eq!(status, 403, "{role:?} lists users");
        let (status, _) = post(
            &app,
            &token,
            "/api/v1/users",
            json!({"email": "eve@example.com", "name": "Eve", "role": "viewer", "tenants": [a.id]}),
        )
        .await;
        assert_eq!(status, 403, "{role:?} invites");
    }

    // The tenant admin signs in and works within tenant A.
    let (status, pair) = login(&app, "ada@example.com", PASSWORD).await;
    assert_eq!(status, 200, "{pair}");
    let ada = pair["access_token"].as_str().unwrap().to_owned();
    let (status, tech) = post(
        &app,
        &ada,
        "/api/v1/users",
        json!({"email": "tess@example.com", "name": "Tess", "role": "technician", "tenants": [a.id]}),
    )
    .await;
    assert_eq!(status, 201, "{tech}");
    assert_eq!(tech["has_password"], false);
    let invite = tech["invite_token"].as_str().unwrap().to_owned();
    let tech_id = tech["id"].as_str().unwrap().to_owned();

    // ...but escalates nothing.
    for body in [
        json!({"email": "mal@example.com", "name": "Mal", "role": "msp_admin", "tenants": []}),
        json!({"email": "mal@example.com", "name": "Mal", "role": "viewer", "tenants": [b.id]}),
        json!({"email": "mal@example.com", "name": "Mal", "role": "viewer", "tenants": [a.id, b.id]}),
    ] {
        let (status, answer) = post(&app, &ada, "/api/v1/users", body.clone()).await;
        assert_eq!(status, 403, "{body} -> {answer}");
    }
    let tech_path = format!("/api/v1/users/{tech_id}");
    for body in [
        json!({"role": "msp_admin"}),
        json!({"tenants": [a.id, b.id]}),
    ] {
        let (status, answer) = send(
            &app,
            reqwest::Method::PATCH,
            &ada,
            &tech_path,
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, 403, "{body} -> {answer}");
    }
    let bob_path = format!("/api/v1/users/{}", only_b["id"].as_str().unwrap());
    let (status, _) = send(&app, reqwest::Method::GET, &ada, &bob_path, None).await;
    assert_eq!(status, 404, "a user of another tenant is not revealed");
    let (status, _) = send(&app, reqwest::Method::DELETE, &ada, &bob_path, None).await;
    assert_eq!(status, 404);
    let (status, listed) = send(&app, reqwest::Method::GET, &ada, "/api/v1/users", None).await;
    assert_eq!(status, 200);
    let emails: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, ["ada@example.com", "tess@example.com"]);
    let (_, all) = send(&app, reqwest::Method::GET, &msp, "/api/v1/users", None).await;
    assert_eq!(all["items"].as_array().unwrap().len(), 3);

    // The invitation sets the first password once, and signs in.
    let accept = |token: String, password: &'static str| {
        let app = &app;
        async move {
            let response = app
                .client
                .post(app.url("/api/v1/auth/accept-invite"))
                .json(&json!({"invite_token": token, "password": password}))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (status, weak) = accept(invite.clone(), "tess").await;
    assert_eq!((status, field(&weak)), (422, "password"));
    let (status, tess_pair) = accept(invite.clone(), "amber lantern 77 fox").await;
    assert_eq!(status, 200, "{tess_pair}");
    let (status, _) = accept(invite, "amber lantern 77 fox").await;
    assert_eq!(status, 401, "an invite token works once");
    let tess = tess_pair["access_token"].as_str().unwrap().to_owned();
    let (status, me) = send(&app, reqwest::Method::GET, &tess, "/api/v1/me", None).await;
    assert_eq!(status, 200);
    assert_eq!(me["email"], "tess@example.com");
    assert_eq!(me["role"], "technician");
    assert_eq!(me["tenants"], json!([a.id]));

    // The tenant admin changes what it may, then disables Tess.
    let (status, changed) = send(
        &app,
        reqwest::Method::PATCH,
        &ada,
        &tech_path,
        Some(json!({"role": "viewer", "name": "Tess T."})),
    )
    .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(
        (changed["role"].as_str(), changed["name"].as_str()),
        (Some("viewer"), Some("Tess T."))
    );
    let (status, disabled) = send(&app, reqwest::Method::DELETE, &ada, &tech_path, None).await;
    assert_eq!(status, 200, "{disabled}");
    assert_eq!(disabled["disabled"], true);
    let (status, _) = send(&app, reqwest::Method::GET, &tess, "/api/v1/me", None).await;
    assert_eq!(status, 401, "a disabled user's token is refused at once");
    let (status, _) = login(&app, "tess@example.com", "amber lantern 77 fox").await;
    assert_eq!(status, 401, "a disabled user cannot sign in");
    let (status, _) = send(
        &app,
        reqwest::Method::PATCH,
        &ada,
        &tech_path,
        Some(json!({"name": "X"})),
    )
    .await;
    assert_eq!(status, 409);

    // Every change is an event with its actor; no secret reaches the log.
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT event_type, payload::text, metadata::text FROM events WHERE aggregate_type = 'User' ORDER BY position",
    )
    .fetch_all(app.db.pool())
    .await
    .unwrap();
    let types: Vec<&str> = rows.iter().map(|(t, _, _)| t.as_str()).collect();
    for expected in [
        "UserInvited",
        "UserPasswordSet",
        "UserRoleChanged",
        "UserRenamed",
        "UserDisabled",
    ] {
        assert!(types.contains(&expected), "{expected} in {types:?}");
    }
    for (event_type, payload, _) in &rows {
        let payload: Value = serde_json::from_str(payload).unwrap();
        let body = &payload[event_type];
        assert!(
            body["actor"]["user_id"].is_string(),
            "{event_type} names its actor: {payload}"
        );
        assert_eq!(body["tenant_id"], "00000000-0000-0000-0000-000000000000");
        let text = payload.to_string();
        for secret in [
            "argon2",
            PASSWORD,
            "amber lantern",
            "invite_token",
            "password_hash",
        ] {
            assert!(!text.contains(secret), "{event_type} holds {secret:?}");
        }
    }
    let role_change = rows
        .iter()
        .find(|(t, _, _)| t == "UserRoleChanged")
        .unwrap();
    let payload: Value = serde_json::from_str(&role_change.1).unwrap();
    assert_eq!(payload["UserRoleChanged"]["from"], "technician");
    assert_eq!(payload["UserRoleChanged"]["to"], "viewer");
    assert_eq!(
        payload["UserRoleChanged"]["actor"]["user_id"],
        admin_a["id"]
    );
}
