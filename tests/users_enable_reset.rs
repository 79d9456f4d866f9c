//! The rest of user administration: enabling a disabled user again, an
//! administrator's password reset (sessions revoked, a one-time token sets
//! the new password), and `GET /users` a page at a time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use alertledger_domain::values::Role;
use serde_json::{json, Value};
use support::TestApp;

const PASSWORD: &str = "violet kettle orbit 42";
const NEW_PASSWORD: &str = "amber window ladder 77";

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    token: Option<&str>,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = app.client.request(method, app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn login(app: &TestApp, email: &str, password: &str) -> (u16, Value) {
    send(
        app,
        reqwest::Method::POST,
        None,
        "/api/v1/auth/login",
        Some(json!({"email": email, "password": password})),
    )
    .await
}

async fn invite(app: &TestApp, admin: &str, email: &str, role: &str, tenant: &str) -> String {
    let (status, user) = send(
        app,
        reqwest::Method::POST,
        Some(admin),
        "/api/v1/users",
        Some(json!({"email": email, "name": "Someone", "role": role, "tenants": [tenant], "password": PASSWORD})),
    )
    .await;
    assert_eq!(status, 201, "{user}");
    user["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_disabled_user_is_enabled_again_and_old_tokens_stay_refused() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("enable-a").await;
    let msp = app.token(Role::MspAdmin, &[]);
    let id = invite(
        &app,
        &msp,
        "tech@enable.example",
        "technician",
        &tenant.id.to_string(),
    )
    .await;
    let (_, before) = login(&app, "tech@enable.example", PASSWORD).await;
    let old_token = before["access_token"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/users/{id}");
    assert_eq!(
        send(&app, reqwest::Method::DELETE, Some(&msp), &path, None)
            .await
            .0,
        200
    );
    assert_eq!(login(&app, "tech@enable.example", PASSWORD).await.0, 401);

    // A disabled user is changed only when enabled in the same request.
    let (status, body) = send(
        &app,
        reqwest::Method::PATCH,
        Some(&msp),
        &path,
        Some(json!({"name": "Renamed"})),
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(body["error"]["code"], "user_disabled");

    // The token's second and the enabling's may coincide: a token issued in
    // the disabling's second stays refused, so the new sign-in waits for
    // the next second.
    let disabled_at = chrono::Utc::now().timestamp();
    while chrono::Utc::now().timestamp() <= disabled_at {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let (status, user) = send(
        &app,
        reqwest::Method::PATCH,
        Some(&msp),
        &path,
        Some(json!({"disabled": false, "name": "Back Again"})),
    )
    .await;
    assert_eq!(status, 200, "{user}");
    assert_eq!(user["disabled"], false);
    assert_eq!(user["name"], "Back Again");
    assert_eq!(app.stored("UserEnabled").await, 1);

    let (status, after) = login(&app, "tech@enable.example", PASSWORD).await;
    assert_eq!(status, 200, "{after}");
    let new_token = after["access_token"].as_str().unwrap();
    assert_eq!(
        send(
            &app,
            reqwest::Method::GET,
            Some(new_token),
            "/api/v1/me",
            None
        )
        .await
        .0,
        200
    );
    // Issued before the disabling: still refused.
    assert_eq!(
        send(
            &app,
            reqwest::Method::GET,
            Some(&old_token),
            "/api/v1/me",
            None
        )
        .await
        .0,
        401
    );

    // `disabled: true` disables as DELETE does; alone only.
    let (status, body) = send(
        &app,
        reqwest::Method::PATCH,
        Some(&msp),
        &path,
        Some(json!({"disabled": true, "name": "x"})),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(body["error"]["details"]["field"], "disabled");
    let (status, user) = send(
        &app,
        reqwest::Method::PATCH,
        Some(&msp),
        &path,
        Some(json!({"disabled": true})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(user["disabled"], true);
    assert_eq!(app.stored("UserDisabled").await, 2);
}

#[tokio::test]
async fn an_admin_password_reset_signs_the_user_out_and_a_one_time_token_sets_the_new_password() {
    let app = TestApp::spawn().await;
    let a = app.create_tenant("reset-a").await;
    let b = app.create_tenant("reset-b").await;
    let msp = app.token(Role::MspAdmin, &[]);
    let id = invite(
        &app,
        &msp,
        "viewer@reset.example",
        "viewer",
        &a.id.to_string(),
    )
    .await;
    let (_, session) = login(&app, "viewer@reset.example", PASSWORD).await;
    let access = session["access_token"].as_str().unwrap().to_owned();
    let refresh = session["refresh_token"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/users/{id}/password-reset");

    // A tenant admin of another tenant does not see the user; a viewer may not.
    let other_admin = app.token(Role::TenantAdmin, &[b.id]);
    assert_eq!(
        send(&app, reqwest::Method::POST, Some(&other_admin), &path, None)
            .await
            .0,
        404
    );
    let viewer = app.token(Role::Viewer, &[a.id]);
    assert_eq!(
        send(&app, reqwest::Method::POST, Some(&viewer), &path, None)
            .await
            .0,
        403
    );

    let admin = app.token(Role::TenantAdmin, &[a.id]);
    let (status, reset) = send(&app, reqwest::Method::POST, Some(&admin), &path, None).await;
    assert_eq!(status, 200, "{reset}");
    assert_eq!(reset["id"], id.as_str());
    let token = reset["reset_token"].as_str().unwrap().to_owned();

    // Signed out everywhere, and the old password is gone.
    assert_eq!(
        send(
            &app,
            reqwest::Method::GET,
            Some(&access),
            "/api/v1/me",
            None
        )
        .await
        .0,
        401
    );
    let (status, _) = send(
        &app,
        reqwest::Method::POST,
        None,
        "/api/v1/auth/refresh",
        Some(json!({"refresh_token": refresh})),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(login(&app, "viewer@reset.example", PASSWORD).await.0, 401);

    // The token sets the new password once.
    let accept = json!({"invite_token": token, "password": NEW_PASSWORD});
    let (status, signed_in) = send(
        &app,
        reqwest::Method::POST,
        None,
        "/api/v1/auth/accept-invite",
        Some(accept.clone()),
    )
    .await;
    assert_eq!(status, 200, "{signed_in}");
    assert_eq!(
        send(
            &app,
            reqwest::Method::POST,
            None,
            "/api/v1/auth/accept-invite",
            Some(accept)
        )
        .await
        .0,
        401
    );
    assert_eq!(
        login(&app, "viewer@reset.example", NEW_PASSWORD).await.0,
        200
    );

    assert_eq!(app.stored("UserPasswordReset").await, 1);
    // The reset token is in no event.
    let leaked: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE payload::text LIKE '%' || $1 || '%'")
            .bind(&token)
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert_eq!(leaked, 0);

    // Nobody resets their own password this way.
    let own = app.token_for(&id, Role::TenantAdmin, &[a.id]);
    let (status, body) = send(&app, reqwest::Method::POST, Some(&own), &path, None).await;
    assert_eq!(status, 409);
    assert_eq!(body["error"]["code"], "cannot_reset_self");
}

#[tokio::test]
async fn the_user_list_is_paged_by_email_without_gaps_or_repeats() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("paging-a").await;
    let msp = app.token(Role::MspAdmin, &[]);
    for n in 0..5 {
        invite(
            &app,
            &msp,
            &format!("user{n}@paging.example"),
            "viewer",
            &tenant.id.to_string(),
        )
        .await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(cursor) => format!("/api/v1/users?limit=2&cursor={cursor}"),
            None => "/api/v1/users?limit=2".to_owned(),
        };
        let (status, page) = send(&app, reqwest::Method::GET, Some(&msp), &path, None).await;
        assert_eq!(status, 200, "{page}");
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(
            items
                .iter()
                .map(|u| u["email"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let expected: Vec<String> = (0..5).map(|n| format!("user{n}@paging.example")).collect();
    assert_eq!(seen, expected);

    let (status, body) = send(
        &app,
        reqwest::Method::GET,
        Some(&msp),
        "/api/v1/users?limit=0",
        None,
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(body["error"]["details"]["field"], "limit");
    let (status, body) = send(
        &app,
        reqwest::Method::GET,
        Some(&msp),
        "/api/v1/users?cursor=@@@",
        None,
    )
    .await;
    assert_eq!(status, 400, "{body}");
}
