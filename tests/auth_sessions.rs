//! Signing in with a password: login, refresh rotation with reuse
//! detection, logout, the sign-in throttle, password changes, one's own
//! sessions, and the argon2id parameters of stored hashes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use alertledger_domain::values::Role;
use serde_json::{json, Value};
use support::TestApp;

const PASSWORD: &str = "violet kettle orbit 42";

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

async fn call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Answer {
    let mut request = app.client.request(method, app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    Answer {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: response.json().await.unwrap_or(Value::Null),
    }
}

async fn login(app: &TestApp, email: &str, password: &str) -> Answer {
    call(
        app,
        reqwest::Method::POST,
        "/api/v1/auth/login",
        None,
        Some(json!({"email": email, "password": password})),
    )
    .await
}

async fn refresh(app: &TestApp, token: &str) -> Answer {
    call(
        app,
        reqwest::Method::POST,
        "/api/v1/auth/refresh",
        None,
        Some(json!({"refresh_token": token})),
    )
    .await
}

async fn me_status(app: &TestApp, token: &str) -> u16 {
    call(app, reqwest::Method::GET, "/api/v1/me", Some(token), None)
        .await
        .status
}

/// Creates a built-in user with `PASSWORD` through the API.
async fn user(app: &TestApp, email: &str, role: &str, tenants: Value) -> Value {
    let answer = call(
        app,
        reqwest::Method::POST,
        "/api/v1/users",
        Some(&app.token(Role::MspAdmin, &[])),
        Some(json!({"email": email, "name": "Test Person", "role": role, "tenants": tenants, "password": PASSWORD})),
    )
    .await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    answer.body
}

fn str_of<'a>(body: &'a Value, key: &str) -> &'a str {
    body[key]
        .as_str()
        .unwrap_or_else(|| panic!("no {key} in {body}"))
}

#[tokio::test]
async fn login_refresh_rotation_reuse_and_logout() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("sessions").await;
    user(&app, "ops@example.com", "technician", json!([tenant.id])).await;

    let wrong = login(&app, "ops@example.com", "not the password").await;
    assert_eq!(wrong.status, 401);
    let unknown = login(&app, "nobody@example.com", PASSWORD).await;
    assert_eq!(unknown.status, 401);
    assert_eq!(
        wrong.body["error"]["message"], unknown.body["error"]["message"],
        "an unknown email is told nothing more"
    );

    let first = login(&app, "OPS@example.com", PASSWORD).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.body["token_type"], "Bearer");
    assert_eq!(first.body["expires_in"], 900);
    let access = str_of(&first.body, "access_token").to_owned();
    let claims = decode_claims(&access);
    assert_eq!(claims["role"], "technician");
    assert_eq!(claims["sid"], first.body["session_id"]);
    assert!(claims["jti"].is_string() && claims["nbf"].is_i64());
    assert!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap() <= 900);
    assert_eq!(me_status(&app, &access).await, 200);
    let incidents = call(
        &app,
        reqwest::Method::GET,
        "/api/v1/incidents",
        Some(&access),
        None,
    )
    .await;
    assert_eq!(
        incidents.status, 200,
        "a signed-in token works on every route"
    );

    // Rotation: each refresh token works once and yields a new one.
    let r0 = str_of(&first.body, "refresh_token").to_owned();
    let second = refresh(&app, &r0).await;
    assert_eq!(second.status, 200, "{}", second.body);
    let r1 = str_of(&second.body, "refresh_token").to_owned();
    assert_ne!(r0, r1);
    assert_eq!(second.body["session_id"], first.body["session_id"]);
    let access1 = str_of(&second.body, "access_token").to_owned();
    assert_eq!(me_status(&app, &access1).await, 200);
    let third = refresh(&app, &r1).await;
    assert_eq!(third.status, 200);
    let r2 = str_of(&third.body, "refresh_token").to_owned();

    // Reuse of r0: refused, and the whole family with it.
    let reused = refresh(&app, &r0).await;
    assert_eq!(reused.status, 401, "{}", reused.body);
    assert_eq!(
        refresh(&app, &r2).await.status,
        401,
        "the family's newest token is revoked too"
    );
    assert_eq!(
        me_status(&app, &access1).await,
        401,
        "the family's access tokens are refused"
    );
    assert_eq!(refresh(&app, "made-up").await.status, 401);

    // Logout revokes the bearer's session only.
    let a = login(&app, "ops@example.com", PASSWORD).await;
    let b = login(&app, "ops@example.com", PASSWORD).await;
    let (access_a, access_b) = (
        str_of(&a.body, "access_token"),
        str_of(&b.body, "access_token"),
    );
    let out = call(
        &app,
        reqwest::Method::POST,
        "/api/v1/auth/logout",
        Some(access_a),
        None,
    )
    .await;
    assert_eq!(out.status, 204);
    assert_eq!(me_status(&app, access_a).await, 401);
    assert_eq!(
        refresh(&app, str_of(&a.body, "refresh_token")).await.status,
        401
    );
    assert_eq!(me_status(&app, access_b).await, 200);
    // A minted token has no session to end.
    let minted = app.token(Role::Viewer, &[tenant.id]);
    let none = call(
        &app,
        reqwest::Method::POST,
        "/api/v1/auth/logout",
        Some(&minted),
        None,
    )
    .await;
    assert_eq!(none.status, 409);
    let unauthenticated = call(
        &app,
        reqwest::Method::POST,
        "/api/v1/auth/logout",
        None,
        None,
    )
    .await;
    assert_eq!(unauthenticated.status, 401);

    // The revocations are events with their reasons.
    let reasons: Vec<String> = sqlx::query_scalar(
        "SELECT payload->'UserSessionsRevoked'->>'reason' FROM events
          WHERE event_type = 'UserSessionsRevoked' ORDER BY position",
    )
    .fetch_all(app.db.pool())
    .await
    .unwrap();
    assert_eq!(reasons, ["refresh_token_reused", "logout"]);
}

fn decode_claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn repeated_failures_are_slowed_down_per_account_and_stored_hashes_are_argon2id() {
    let app = TestApp::spawn().await;
    let created = user(&app, "lock@example.com", "msp_admin", json!([])).await;

    // argon2id with the documented parameters, in the credentials table only.
    let hash: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1::uuid")
        .bind(str_of(&created, "id"))
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    let fields: Vec<&str> = hash.split('$').collect();
    assert_eq!(fields[1], "argon2id", "{hash}");
    assert_eq!(fields[2], "v=19");
    assert_eq!(fields[3], "m=19456,t=2,p=1");
    use base64::Engine;
    let salt = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(fields[4])
        .unwrap();
    let output = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(fields[5])
        .unwrap();
    assert_eq!((salt.len(), output.len()), (16, 32));

    // Four failures are free; the fifth locks the account for a while.
    for attempt in 1..=5 {
        let answer = login(&app, "lock@example.com", "wrong password!").await;
        assert_eq!(answer.status, 401, "attempt {attempt}");
    }
    let locked = login(&app, "lock@example.com", PASSWORD).await;
    assert_eq!(
        locked.status, 429,
        "even the right password waits: {}",
        locked.body
    );
    let retry_after: u64 = locked.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry_after), "{retry_after}");
    // Another account from the same address is not locked (the address
    // allows more failures than one account).
    user(
        &app,
        "other@example.com",
        "viewer",
        json!([app.create_tenant("lock-other").await.id]),
    )
    .await;
    assert_eq!(login(&app, "other@example.com", PASSWORD).await.status, 200);

    // Once the lock passes, the right password works and clears the count.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let answer = login(&app, "lock@example.com", PASSWORD).await;
        if answer.status == 200 {
            break;
        }
        assert_eq!(answer.status, 429);
        assert!(Instant::now() < deadline, "the lock never passed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        login(&app, "lock@example.com", "wrong password!")
            .await
            .status,
        401,
        "the count starts again"
    );

    // Unknown emails are throttled the same way (nothing tells them apart).
    for _ in 1..=5 {
        assert_eq!(
            login(&app, "ghost@example.com", "whatever it is")
                .await
                .status,
            401
        );
    }
    assert_eq!(
        login(&app, "ghost@example.com", "whatever it is")
            .await
            .status,
        429
    );
}

#[tokio::test]
async fn a_user_changes_their_password_and_manages_their_sessions() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("profile").await;
    user(&app, "me@example.com", "viewer", json!([tenant.id])).await;
    let here = login(&app, "me@example.com", PASSWORD).await;
    let there = login(&app, "me@example.com", PASSWORD).await;
    let elsewhere = login(&app, "me@example.com", PASSWORD).await;
    let token = str_of(&here.body, "access_token").to_owned();

    let me = call(&app, reqwest::Method::GET, "/api/v1/me", Some(&token), None).await;
    assert_eq!(me.body["email"], "me@example.com");
    assert_eq!(me.body["role"], "viewer");
    assert_eq!(me.body["tenants"], json!([tenant.id]));
    assert_eq!(me.body["session_id"], here.body["session_id"]);

    let sessions = call(
        &app,
        reqwest::Method::GET,
        "/api/v1/me/sessions",
        Some(&token),
        None,
    )
    .await;
    let items = sessions.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items.iter().filter(|s| s["current"] == true).count(), 1);
    assert!(
        !sessions.body.to_string().contains("refresh"),
        "no token in the list"
    );

    // Signing another session out.
    let elsewhere_path = format!(
        "/api/v1/me/sessions/{}",
        str_of(&elsewhere.body, "session_id")
    );
    let out = call(
        &app,
        reqwest::Method::DELETE,
        &elsewhere_path,
        Some(&token),
        None,
    )
    .await;
    assert_eq!(out.status, 204);
    assert_eq!(
        me_status(&app, str_of(&elsewhere.body, "access_token")).await,
        401
    );
    let again = call(
        &app,
        reqwest::Method::DELETE,
        &elsewhere_path,
        Some(&token),
        None,
    )
    .await;
    assert_eq!(again.status, 404);

    // Changing the password: the current one is checked, the new one too.
    let change = |current: &'static str, new: &'static str| {
        call(
            &app,
            reqwest::Method::POST,
            "/api/v1/auth/password",
            Some(&token),
            Some(json!({"current": current, "new": new})),
        )
    };
    let wrong = change("not it at all", "a brand new phrase 9").await;
    assert_eq!(
        (
            wrong.status,
            wrong.body["error"]["details"]["field"].as_str()
        ),
        (422, Some("current"))
    );
    let weak = change(PASSWORD, "short").await;
    assert_eq!(
        (weak.status, weak.body["error"]["details"]["field"].as_str()),
        (422, Some("new"))
    );
    let changed = change(PASSWORD, "a brand new phrase 9").await;
    assert_eq!(changed.status, 204, "{}", changed.body);
    assert_eq!(me_status(&app, &token).await, 200, "this session stays");
    assert_eq!(
        me_status(&app, str_of(&there.body, "access_token")).await,
        401,
        "other sessions end"
    );
    assert_eq!(
        refresh(&app, str_of(&there.body, "refresh_token"))
            .await
            .status,
        401
    );
    assert_eq!(login(&app, "me@example.com", PASSWORD).await.status, 401);
    assert_eq!(
        login(&app, "me@example.com", "a brand new phrase 9")
            .await
            .status,
        200
    );
}
