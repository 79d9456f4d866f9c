//! CloudWatch through AWS SNS (issue 15, item 7): subscription requests are
//! recorded and listed with their SubscribeURL (never fetched); a tenant pins
//! the topics it accepts; the message `Timestamp` is held to the signed
//! webhooks' 300 s; production refuses SNS it cannot verify. Messages are
//! signed here as AWS signs them (SignatureVersion 2, SHA256withRSA over the
//! documented canonical string) with the test-only key of the parser's tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;

use alertledger_api::ingest::sources::{SnsCertificate, SourceSettings};
use alertledger_domain::values::Role;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use base64::Engine;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::{json, Value};
use support::{TestApp, TestTenant};

const CERT: &[u8] = include_bytes!("../api/src/ingest/sources/testdata/sns/test-signing-cert.pem");
const TEST_ONLY_KEY: &str =
    include_str!("../api/src/ingest/sources/testdata/sns/TEST-ONLY-signing-key.pk8.pem");
const TOPIC: &str = "arn:aws:sns:eu-west-1:123456789012:alertledger";
const OTHER_TOPIC: &str = "arn:aws:sns:us-east-1:210987654321:someone-else";

fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn confirmation(message_id: &str, topic: &str, at: DateTime<Utc>) -> Value {
    json!({
        "Type": "SubscriptionConfirmation",
        "MessageId": message_id,
        "Token": "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92",
        "TopicArn": topic,
        "Message": format!("You have chosen to subscribe to the topic {topic}.\nTo confirm the subscription, visit the SubscribeURL included in this message."),
        "SubscribeURL": format!("https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn={topic}&Token=2336412f37{message_id}"),
        "Timestamp": stamp(at),
        "SigningCertURL": "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-0000.pem"
    })
}

fn notification(message_id: &str, topic: &str, at: DateTime<Utc>) -> Value {
    let alarm = json!({
        "AlarmName": "web01-cpu-high", "AlarmDescription": "CPU above 90% for 5 minutes",
        "AWSAccountId": "123456789012", "NewStateValue": "ALARM", "NewStateReason": "Threshold Crossed",
        "StateChangeTime": "2026-11-22T03:07:32.123+0000", "Region": "EU (Ireland)",
        "AlarmArn": "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:web01-cpu-high", "OldStateValue": "OK",
        "Trigger": { "MetricName": "CPUUtilization", "Namespace": "AWS/EC2",
                     "Dimensions": [{ "value": "i-0abc123def4567890", "name": "InstanceId" }] }
    });
    json!({
        "Type": "Notification",
        "MessageId": message_id,
        "TopicArn": topic,
        "Subject": "ALARM: \"web01-cpu-high\" in EU (Ireland)",
        "Message": alarm.to_string(),
        "Timestamp": stamp(at),
        "SigningCertURL": "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-0000.pem",
        "UnsubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=x"
    })
}

/// Signs `envelope` as SNS does for SignatureVersion 2: `Name\nvalue\n` for
/// each signed field in AWS's documented order (a notification's Subject
/// only when present).
fn signed(mut envelope: Value) -> Value {
    let names: &[&str] = if envelope["Type"] == "Notification" {
        &[
            "Message",
            "MessageId",
            "Subject",
            "Timestamp",
            "TopicArn",
            "Type",
        ]
    } else {
        &[
            "Message",
            "MessageId",
            "SubscribeURL",
            "Timestamp",
            "Token",
            "TopicArn",
            "Type",
        ]
    };
    let mut canonical = String::new();
    for name in names {
        if let Some(value) = envelope[*name].as_str() {
            canonical.push_str(&format!("{name}\n{value}\n"));
        }
    }
    let der: String = TEST_ONLY_KEY
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(der)
        .unwrap();
    let key = RsaKeyPair::from_pkcs8(&der).unwrap();
    let mut signature = vec![0; key.public_modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        canonical.as_bytes(),
        &mut signature,
    )
    .unwrap();
    envelope["SignatureVersion"] = json!("2");
    envelope["Signature"] = json!(base64::engine::general_purpose::STANDARD.encode(signature));
    envelope
}

async fn deliver(app: &TestApp, tenant: &TestTenant, envelope: &Value) -> (u16, Value) {
    // SNS posts its JSON as text/plain.
    let response = app
        .client
        .post(app.url("/api/v1/webhooks/cloudwatch"))
        .header("X-API-Key", &tenant.api_key)
        .header("Content-Type", "text/plain; charset=UTF-8")
        .header("x-amz-sns-message-type", envelope["Type"].as_str().unwrap())
        .body(envelope.to_string())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn get(app: &TestApp, token: &str, path: &str) -> (u16, Value) {
    let response = app
        .client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn pin(app: &TestApp, token: &str, tenant: &TestTenant, body: Value) -> (u16, Value) {
    let response = app
        .client
        .put(app.url(&format!("/api/v1/tenants/{}/sns-topics", tenant.id)))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// The tenant's refused cloudwatch deliveries, once `count` are listed.
async fn rejected(app: &TestApp, tenant: &TestTenant, count: usize) -> Vec<Value> {
    let token = app.token(Role::TenantAdmin, &[tenant.id]);
    let page = app
        .get_until(
            &format!(
                "/api/v1/deliveries?status=rejected&source=cloudwatch&tenant={}",
                tenant.id
            ),
            &token,
            |page| {
                page["items"]
                    .as_array()
                    .is_some_and(|items| items.len() >= count)
            },
        )
        .await;
    page["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn subscriptions_are_listed_never_fetched_topics_pinned_and_timestamps_checked() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("acme").await;
    let other = app.create_tenant("globex").await;
    let admin = app.token(Role::TenantAdmin, &[tenant.id]);
    let now = Utc::now();

    // A subscription request is recorded and answered; a retry is one entry.
    let request = confirmation("sub-1", TOPIC, now);
    let (status, body) = deliver(&app, &tenant, &request).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["subscription_confirmation"]["topic_arn"], TOPIC);
    assert_eq!(deliver(&app, &tenant, &request).await.0, 202);
    let list = format!("/api/v1/tenants/{}/sns-subscriptions", tenant.id);
    let (status, page) = get(&app, &admin, &list).await;
    assert_eq!(status, 200, "{page}");
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{page}");
    let item = &items[0];
    assert_eq!(item["id"], "sub-1");
    assert_eq!(item["message_id"], "sub-1");
    assert_eq!(item["topic_arn"], TOPIC);
    assert_eq!(item["subscribe_url"], request["SubscribeURL"]);
    assert_eq!(item["status"], "pending");
    let received: DateTime<Utc> = item["received_at"].as_str().unwrap().parse().unwrap();
    assert!((received - now).num_seconds().abs() < 60);
    let expires: DateTime<Utc> = item["expires_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(expires - received, Duration::days(3));
    let (_, pending) = get(&app, &admin, &format!("{list}?status=pending")).await;
    assert_eq!(pending["items"].as_array().unwrap().len(), 1);
    let (_, expired) = get(&app, &admin, &format!("{list}?status=expired")).await;
    assert_eq!(expired["items"], json!([]));
    assert_eq!(
        get(&app, &admin, &format!("{list}?status=done")).await.0,
        422
    );

    // Tenant admins and up, of this tenant only.
    let operator = app.token(Role::Technician, &[tenant.id]);
    assert_eq!(get(&app, &operator, &list).await.0, 403);
    let stranger = app.token(Role::TenantAdmin, &[other.id]);
    assert_eq!(get(&app, &stranger, &list).await.0, 404);
    let msp = app.token(Role::MspAdmin, &[]);
    assert_eq!(get(&app, &msp, &list).await.0, 200);
    let (_, theirs) = get(
        &app,
        &stranger,
        &format!("/api/v1/tenants/{}/sns-subscriptions", other.id),
    )
    .await;
    assert_eq!(
        theirs["items"],
        json!([]),
        "another tenant's list is its own"
    );

    // Pins: ARN syntax is checked and named; a pin is an event with its actor.
    let (status, body) = pin(
        &app,
        &admin,
        &tenant,
        json!({"topic_arns": [TOPIC, "arn:aws:sns:eu-west-1:1:x"]}),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["details"]["field"], "topic_arns[1]");
    let (status, body) = pin(&app, &admin, &tenant, json!({"topic_arns": [42]})).await;
    assert_eq!(
        (status, body["error"]["details"]["field"].clone()),
        (422, json!("topic_arns[0]"))
    );
    assert_eq!(
        pin(&app, &operator, &tenant, json!({"topic_arns": [TOPIC]}))
            .await
            .0,
        403
    );
    let (status, body) = pin(&app, &admin, &tenant, json!({"topic_arns": [TOPIC, TOPIC]})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["topic_arns"], json!([TOPIC]));
    let (status, body) = get(
        &app,
        &operator,
        &format!("/api/v1/tenants/{}/sns-topics", tenant.id),
    )
    .await;
    assert_eq!((status, body["topic_arns"].clone()), (200, json!([TOPIC])));
    let actor: Value = sqlx::query_scalar(
        "SELECT payload -> 'SnsTopicsPinned' -> 'actor' FROM events WHERE event_type = 'SnsTopicsPinned'",
    )
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    assert_eq!(actor["user_id"], "user-tenant_admin", "{actor}");

    // A pinned topic's alarm is stored; another topic's is 403 and recorded,
    // confirmation or notification.
    let (status, body) = deliver(&app, &tenant, &notification("n-1", TOPIC, Utc::now())).await;
    assert_eq!(status, 202, "{body}");
    let (status, body) =
        deliver(&app, &tenant, &notification("n-2", OTHER_TOPIC, Utc::now())).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "sns_topic_not_pinned", "{body}");
    assert_eq!(body["error"]["details"]["field"], "TopicArn");
    let (status, _) = deliver(
        &app,
        &tenant,
        &confirmation("sub-2", OTHER_TOPIC, Utc::now()),
    )
    .await;
    assert_eq!(status, 403);
    let (_, page) = get(&app, &admin, &list).await;
    assert_eq!(
        page["items"].as_array().unwrap().len(),
        1,
        "nothing new listed"
    );
    // The other tenant pinned nothing: any topic is accepted there.
    assert_eq!(
        deliver(&app, &other, &notification("n-3", OTHER_TOPIC, Utc::now()))
            .await
            .0,
        202
    );

    // The Timestamp is held to the signed webhooks' 300 s, either way.
    let old = notification("n-4", TOPIC, Utc::now() - Duration::seconds(400));
    let (status, body) = deliver(&app, &tenant, &old).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["details"]["reason"], "stale_timestamp");
    assert_eq!(body["error"]["details"]["tolerance_seconds"], 300);
    let ahead = notification("n-5", TOPIC, Utc::now() + Duration::seconds(400));
    let (status, body) = deliver(&app, &tenant, &ahead).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["details"]["reason"], "future_timestamp");

    // Every refusal of the tenant is a rejected delivery; none became an alert.
    let refused = rejected(&app, &tenant, 4).await;
    let statuses: Vec<i64> = refused
        .iter()
        .map(|r| r["status"].as_i64().unwrap())
        .collect();
    assert_eq!(statuses, [401, 401, 403, 403], "{refused:?}");
    assert_eq!(refused[2]["field"], "TopicArn");
    assert_eq!(refused[0]["field"], "Timestamp");
    assert_eq!(app.stored("AlertReceived").await, 2);
    assert_eq!(app.stored("SnsSubscriptionRequested").await, 1);

    // Unpinning (an empty list) accepts any topic again.
    assert_eq!(
        pin(&app, &admin, &tenant, json!({"topic_arns": []}))
            .await
            .0,
        200
    );
    assert_eq!(
        deliver(&app, &tenant, &notification("n-6", OTHER_TOPIC, Utc::now()))
            .await
            .0,
        202
    );
    assert_eq!(app.stored("SnsTopicsPinned").await, 2);
}

#[tokio::test]
async fn production_refuses_unsigned_sns_and_accepts_what_the_certificate_signed() {
    // Production without a certificate: nothing can be checked, so nothing
    // is accepted, signed or not.
    let unchecked = TestApp::spawn_with_sources(SourceSettings {
        require_sns_signature: true,
        ..SourceSettings::default()
    })
    .await;
    let tenant = unchecked.create_tenant("acme").await;
    for envelope in [
        notification("n-1", TOPIC, Utc::now()),
        signed(notification("n-2", TOPIC, Utc::now())),
        signed(confirmation("sub-1", TOPIC, Utc::now())),
    ] {
        let (status, body) = deliver(&unchecked, &tenant, &envelope).await;
        assert_eq!(status, 401, "{body}");
        assert_eq!(
            body["error"]["details"]["reason"],
            "signature_checking_disabled"
        );
    }
    assert_eq!(rejected(&unchecked, &tenant, 3).await.len(), 3);
    assert_eq!(unchecked.stored("AlertReceived").await, 0);
    drop(unchecked);

    // Production with AWS's certificate: signed messages pass (and are
    // still held to the timestamp window), unsigned or tampered ones do not.
    let app = TestApp::spawn_with_sources(SourceSettings {
        require_sns_signature: true,
        sns_signing_cert: Some(Arc::new(SnsCertificate::from_pem(CERT).unwrap())),
        ..SourceSettings::default()
    })
    .await;
    let tenant = app.create_tenant("acme").await;
    let admin = app.token(Role::TenantAdmin, &[tenant.id]);
    let (status, body) = deliver(
        &app,
        &tenant,
        &signed(confirmation("sub-1", TOPIC, Utc::now())),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let (_, page) = get(
        &app,
        &admin,
        &format!("/api/v1/tenants/{}/sns-subscriptions", tenant.id),
    )
    .await;
    assert_eq!(page["items"][0]["topic_arn"], TOPIC, "{page}");
    let (status, body) = deliver(
        &app,
        &tenant,
        &signed(notification("n-1", TOPIC, Utc::now())),
    )
    .await;
    assert_eq!(status, 202, "{body}");

    let unsigned = notification("n-2", TOPIC, Utc::now());
    assert_eq!(deliver(&app, &tenant, &unsigned).await.0, 401);
    let mut tampered = signed(notification("n-3", TOPIC, Utc::now()));
    tampered["TopicArn"] = json!(OTHER_TOPIC);
    assert_eq!(deliver(&app, &tenant, &tampered).await.0, 401);
    let stale = signed(notification(
        "n-4",
        TOPIC,
        Utc::now() - Duration::seconds(301),
    ));
    let (status, body) = deliver(&app, &tenant, &stale).await;
    assert_eq!(
        (status, body["error"]["details"]["reason"].clone()),
        (401, json!("stale_timestamp"))
    );
    assert_eq!(rejected(&app, &tenant, 3).await.len(), 3);
    assert_eq!(app.stored("AlertReceived").await, 1);

    // A tenant that requires signed webhooks: AWS cannot add our HMAC
    // headers, so the checked SNS signature stands in for them.
    let strict = app.create_tenant("strict").await;
    let strict_admin = app.token(Role::TenantAdmin, &[strict.id]);
    let response = app
        .client
        .post(app.url(&format!("/api/v1/tenants/{}/webhook-secrets", strict.id)))
        .bearer_auth(&strict_admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let response = app
        .client
        .put(app.url(&format!("/api/v1/tenants/{}/webhook-signing", strict.id)))
        .bearer_auth(&strict_admin)
        .json(&json!({"required": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let (status, body) = deliver(
        &app,
        &strict,
        &signed(notification("n-5", TOPIC, Utc::now())),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let unsigned = notification("n-6", TOPIC, Utc::now());
    assert_eq!(deliver(&app, &strict, &unsigned).await.0, 401);
}
