//! Notification channels over HTTP (issue 18, slice 1 and 2): a tenant admin
//! creates Slack, Teams, webhook, PagerDuty and email channels; their
//! secrets never come back (responses, events, the secrets table holds
//! ciphertext); each channel's test message reaches a real receiver on
//! loopback in its receiver's dialect; bad input is 422 naming the field
//! with nothing written.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use alertledger_domain::notification::NotificationSetupEvent;
use alertledger_domain::values::Role;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{json, Value};
use sha2::Sha256;
use support::receivers::{HttpReceiver, SmtpSink};
use support::TestApp;

/// Verifies a Standard Webhooks signature as a receiver would.
fn signature_verifies(secret: &str, id: &str, timestamp: &str, body: &[u8], header: &str) -> bool {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    header.split(' ').any(|candidate| candidate == expected)
}

#[tokio::test]
async fn channels_reach_their_receivers_and_never_reveal_their_secrets() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("notify-acme").await;
    let other = app.create_tenant("notify-other").await;
    let admin = app.token(Role::TenantAdmin, &[tenant.id]);
    let receiver = HttpReceiver::start().await;
    let smtp = SmtpSink::start().await;
    let base = format!("/api/v1/tenants/{}/notification-channels", tenant.id);

    let bodies = [
        json!({"type": "slack", "name": "Ops room", "config": {"url": receiver.url("slack/T0/B0/slack-token-xyz")}}),
        json!({"type": "teams", "name": "Teams", "config": {"url": receiver.url("teams/teams-token-xyz")}}),
        json!({"type": "webhook", "name": "Hook", "config": {"url": receiver.url("hook/hook-token-xyz")}}),
        json!({"type": "pagerduty", "name": "PD", "config": {"routing_key": "pd-routing-key-xyz", "url": receiver.url("v2/enqueue")}}),
        json!({"type": "email", "name": "Mail", "config": {
            "smtp_host": "127.0.0.1", "smtp_port": smtp.port, "tls": "none",
            "username": "alerts", "password": "smtp-password-xyz",
            "from": "alerts@acme.test", "to": ["ops@acme.test", "oncall@acme.test"]}}),
    ];
    let mut ids = Vec::new();
    let mut signing_secret = String::new();
    for body in &bodies {
        let (status, channel) = app
            .call(Method::POST, &base, &admin, Some(body.clone()))
            .await;
        assert_eq!(status, 201, "{channel}");
        assert_eq!(channel["type"], body["type"]);
        assert_eq!(channel["id"], channel["channel_id"]);
        let text = channel.to_string();
        assert!(!text.contains("-xyz"), "a secret came back: {text}");
        if body["type"] == "webhook" {
            signing_secret = channel["signing_secret"].as_str().unwrap().to_owned();
            assert!(signing_secret.starts_with("whsec_"));
        } else {
            assert!(channel.get("signing_secret").is_none());
        }
        ids.push(channel["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        app.call(Method::GET, &format!("{base}/{}", ids[0]), &admin, None)
            .await
            .1["config"],
        json!({"url_host": receiver.base.trim_start_matches("http://")})
    );

    // Listed for readers, without secrets and without the signing secret.
    let viewer = app.token(Role::Viewer, &[tenant.id]);
    let (status, list) = app.call(Method::GET, &base, &viewer, None).await;
    assert_eq!(status, 200);
    assert_eq!(list["items"].as_array().unwrap().len(), 5);
    assert!(!list.to_string().contains("-xyz") && !list.to_string().contains("whsec_"));
    let email = &list["items"][4]["config"];
    assert_eq!(email["to"], json!(["ops@acme.test", "oncall@acme.test"]));
    assert!(email.get("password").is_none());

    // Nothing secret in the log or in the table's bytes.
    let events: Vec<String> = sqlx::query_scalar(
        "SELECT payload::text FROM events WHERE aggregate_type = 'NotificationSetup'",
    )
    .fetch_all(app.db.pool())
    .await
    .unwrap();
    assert_eq!(events.len(), 5);
    assert!(
        events
            .iter()
            .all(|e| !e.contains("-xyz") && !e.contains("whsec_")),
        "{events:?}"
    );
    let sealed: Vec<Vec<u8>> =
        sqlx::query_scalar("SELECT ciphertext FROM notification_channel_secrets")
            .fetch_all(app.db.pool())
            .await
            .unwrap();
    assert_eq!(sealed.len(), 5);
    assert!(sealed
        .iter()
        .all(|bytes| !String::from_utf8_lossy(bytes).contains("-xyz")));
    let actors: Vec<Value> = sqlx::query_scalar(
        "SELECT payload->'NotificationChannelAdded'->'actor' FROM events WHERE event_type = $1",
    )
    .bind(NotificationSetupEvent::CHANNEL_ADDED)
    .fetch_all(app.db.pool())
    .await
    .unwrap();
    assert!(
        actors.iter().all(|actor| actor["role"] == "tenant_admin"),
        "{actors:?}"
    );

    // Permissions: a technician may not configure; another tenant sees nothing.
    let technician = app.token(Role::Technician, &[tenant.id]);
    assert_eq!(
        app.call(Method::POST, &base, &technician, Some(bodies[0].clone()))
            .await
            .0,
        403
    );
    assert_eq!(
        app.call(
            Method::POST,
            &format!("{base}/{}/test", ids[0]),
            &technician,
            None
        )
        .await
        .0,
        403
    );
    let stranger = app.token(Role::TenantAdmin, &[other.id]);
    assert_eq!(app.call(Method::GET, &base, &stranger, None).await.0, 404);
    assert_eq!(
        app.call(Method::GET, &format!("{base}/{}", ids[0]), &stranger, None)
            .await
            .0,
        404
    );

    // Each channel's test message reaches its receiver in its dialect.
    for id in &ids {
        let (status, result) = app
            .call(Method::POST, &format!("{base}/{id}/test"), &admin, None)
            .await;
        assert_eq!(status, 200, "{result}");
        assert_eq!(result["delivered"], true, "{result}");
    }
    let slack = receiver.wait_for("slack/T0/B0/slack-token-xyz", 1).await;
    let slack = slack[0].json();
    assert!(slack["text"]
        .as_str()
        .unwrap()
        .contains("Test notification"));
    let fields = slack["blocks"][1]["fields"].to_string();
    assert!(
        fields.contains("*Severity*") && fields.contains("*Asset*"),
        "{slack}"
    );

    let teams = receiver.wait_for("teams/teams-token-xyz", 1).await[0].json();
    let card = &teams["attachments"][0];
    assert_eq!(
        card["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(card["content"]["type"], "AdaptiveCard");

    let hook = &receiver.wait_for("hook/hook-token-xyz", 1).await[0];
    assert_eq!(hook.json()["type"], "test");
    assert!(signature_verifies(
        &signing_secret,
        hook.header("webhook-id"),
        hook.header("webhook-timestamp"),
        &hook.body,
        hook.header("webhook-signature"),
    ));
    assert_eq!(hook.json()["id"], hook.header("webhook-id"));

    let pd = receiver.wait_for("v2/enqueue", 1).await[0].json();
    assert_eq!(pd["routing_key"], "pd-routing-key-xyz");
    assert_eq!(pd["event_action"], "trigger");
    assert!(pd["dedup_key"].is_string());
    assert_eq!(pd["payload"]["severity"], "info");

    let mail = &smtp.wait_for(1).await[0];
    assert_eq!(mail.auth.as_deref(), Some("\0alerts\0smtp-password-xyz"));
    assert_eq!(mail.from, "alerts@acme.test");
    assert_eq!(mail.to, vec!["ops@acme.test", "oncall@acme.test"]);
    assert!(
        mail.data.contains("Subject: [LOW] Test notification"),
        "{}",
        mail.data
    );
    assert!(mail.data.contains("text/plain") && mail.data.contains("text/html"));

    // A receiver that refuses: the test reports it.
    receiver.script("slack/T0/B0/slack-token-xyz", &[500]);
    let (_, result) = app
        .call(
            Method::POST,
            &format!("{base}/{}/test", ids[0]),
            &admin,
            None,
        )
        .await;
    assert_eq!(result["delivered"], false);
    assert_eq!(result["code"], 500);

    // Deleting shreds the secret; the channel is gone.
    assert_eq!(
        app.call(Method::DELETE, &format!("{base}/{}", ids[0]), &admin, None)
            .await
            .0,
        204
    );
    assert_eq!(
        app.call(Method::GET, &format!("{base}/{}", ids[0]), &admin, None)
            .await
            .0,
        404
    );
    assert_eq!(
        app.call(Method::DELETE, &format!("{base}/{}", ids[0]), &admin, None)
            .await
            .0,
        404
    );
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM notification_channel_secrets")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_eq!(left, 4);
    assert_eq!(app.stored(NotificationSetupEvent::CHANNEL_REMOVED).await, 1);
}

#[tokio::test]
async fn bad_channel_input_is_422_naming_the_field_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("notify-bad").await;
    let admin = app.token(Role::TenantAdmin, &[tenant.id]);
    let base = format!("/api/v1/tenants/{}/notification-channels", tenant.id);
    let email = |config: Value| json!({"type": "email", "name": "Mail", "config": config});
    let cases = [
        (json!({"type": "sms", "name": "x", "config": {}}), "type"),
        (
            json!({"type": "slack", "name": "x", "config": {"url": "not a url"}}),
            "config.url",
        ),
        (
            json!({"type": "slack", "name": "x", "config": {"url": "ftp://hooks.example/x"}}),
            "config.url",
        ),
        (
            json!({"type": "webhook", "name": "x", "config": {"url": "http://example.com/x"}}),
            "config.url",
        ),
        (
            json!({"type": "teams", "name": "x", "config": {}}),
            "config.url",
        ),
        (
            json!({"type": "slack", "name": "  ", "config": {"url": "https://hooks.example/x"}}),
            "name",
        ),
        (
            json!({"type": "pagerduty", "name": "x", "config": {"url": "https://pd.example"}}),
            "config.routing_key",
        ),
        (
            email(json!({"smtp_port": 25, "tls": "none", "from": "a@b.test", "to": ["c@d.test"]})),
            "config.smtp_host",
        ),
        (
            email(
                json!({"smtp_host": "mx", "smtp_port": 25, "tls": "tls", "from": "a@b.test", "to": ["c@d.test"]}),
            ),
            "config.tls",
        ),
        (
            email(
                json!({"smtp_host": "mx", "smtp_port": 25, "tls": "none", "from": "nobody", "to": ["c@d.test"]}),
            ),
            "config.from",
        ),
        (
            email(
                json!({"smtp_host": "mx", "smtp_port": 25, "tls": "none", "from": "a@b.test", "to": []}),
            ),
            "config.to",
        ),
    ];
    for (body, field) in cases {
        let (status, error) = app
            .call(Method::POST, &base, &admin, Some(body.clone()))
            .await;
        assert_eq!(status, 422, "{body}: {error}");
        assert_eq!(error["error"]["details"]["field"], field, "{body}: {error}");
    }
    assert_eq!(app.stored(NotificationSetupEvent::CHANNEL_ADDED).await, 0);
    let sealed: i64 = sqlx::query_scalar("SELECT count(*) FROM notification_channel_secrets")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_eq!(sealed, 0);
    let (status, list) = app.call(Method::GET, &base, &admin, None).await;
    assert_eq!((status, list["items"].as_array().unwrap().len()), (200, 0));
}

#[tokio::test]
async fn an_update_without_the_secret_keeps_the_stored_one() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("notify-keep").await;
    let admin = app.token(Role::TenantAdmin, &[tenant.id]);
    let receiver = HttpReceiver::start().await;
    let smtp = SmtpSink::start().await;
    let base = format!("/api/v1/tenants/{}/notification-channels", tenant.id);
    let email_config = json!({
        "smtp_host": "127.0.0.1", "smtp_port": smtp.port, "tls": "none",
        "username": "alerts", "password": "smtp-password-xyz",
        "from": "alerts@acme.test", "to": ["ops@acme.test"]});
    let mut ids = Vec::new();
    let mut signing_secret = String::new();
    for body in [
        json!({"type": "webhook", "name": "Hook", "config": {"url": receiver.url("hook/keep-xyz")}}),
        json!({"type": "email", "name": "Mail", "config": email_config}),
    ] {
        let (status, channel) = app.call(Method::POST, &base, &admin, Some(body)).await;
        assert_eq!(status, 201, "{channel}");
        if let Some(secret) = channel["signing_secret"].as_str() {
            signing_secret = secret.to_owned();
        }
        ids.push(channel["id"].as_str().unwrap().to_owned());
    }

    // Renamed without its URL; the email channel gets another recipient
    // without its password.
    let (status, hook) = app
        .call(
            Method::PUT,
            &format!("{base}/{}", ids[0]),
            &admin,
            Some(json!({"name": "Hook (renamed)", "config": {}})),
        )
        .await;
    assert_eq!(status, 200, "{hook}");
    assert_eq!(hook["name"], "Hook (renamed)");
    let mut without_password = email_config.clone();
    without_password.as_object_mut().unwrap().remove("password");
    without_password["to"] = json!(["ops@acme.test", "oncall@acme.test"]);
    let (status, mail) = app
        .call(
            Method::PUT,
            &format!("{base}/{}", ids[1]),
            &admin,
            Some(json!({"name": "Mail", "config": without_password})),
        )
        .await;
    assert_eq!(status, 200, "{mail}");
    assert_eq!(
        mail["config"]["to"],
        json!(["ops@acme.test", "oncall@acme.test"])
    );
    assert_eq!(app.stored(NotificationSetupEvent::CHANNEL_UPDATED).await, 2);

    // Both still reach their receivers with the stored secrets: the same
    // URL, the same signing secret, the same SMTP password.
    for id in &ids {
        let (status, result) = app
            .call(Method::POST, &format!("{base}/{id}/test"), &admin, None)
            .await;
        assert_eq!(
            (status, result["delivered"].clone()),
            (200, json!(true)),
            "{result}"
        );
    }
    let hook = &receiver.wait_for("hook/keep-xyz", 1).await[0];
    assert!(signature_verifies(
        &signing_secret,
        hook.header("webhook-id"),
        hook.header("webhook-timestamp"),
        &hook.body,
        hook.header("webhook-signature"),
    ));
    let sent = &smtp.wait_for(1).await[0];
    assert_eq!(sent.auth.as_deref(), Some("\0alerts\0smtp-password-xyz"));
    assert_eq!(sent.to, vec!["ops@acme.test", "oncall@acme.test"]);

    // A secret given is still checked: a bad URL is 422 naming it.
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("{base}/{}", ids[0]),
            &admin,
            Some(json!({"name": "Hook", "config": {"url": "not a url"}})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["details"]["field"], "config.url");
}
