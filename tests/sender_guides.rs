//! The sender setup guides (docs/senders/, issue 15 item 8) and their example
//! payloads: every fixture a guide names exists and is posted here through
//! the route, content type and key placement that guide documents, and is
//! stored; and the guides name exactly the fixtures listed below, so docs and
//! fixtures cannot drift apart.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;
use std::path::Path;

use alertledger_api::auth::signing::{sign_x_signature_as_issued, SecretBytes};
use alertledger_domain::values::Role;
use chrono::{SecondsFormat, Utc};
use serde_json::{json, Value};
use support::{TestApp, TestTenant};

/// Where a guide tells the tool to put the API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Bearer,
    Header,
    /// `?api_key=` (SNS cannot set headers).
    Query,
}

/// One documented delivery: a fixture, the route and how it is sent.
struct Post {
    fixture: &'static str,
    route: &'static str,
    content_type: &'static str,
    key: Key,
    /// Signed with `X-Timestamp`/`X-Signature` as generic-curl.md shows.
    signed: bool,
}

const fn post(fixture: &'static str, route: &'static str, key: Key) -> Post {
    Post {
        fixture,
        route,
        content_type: "application/json",
        key,
        signed: false,
    }
}

/// Every guide, the route it documents, and the deliveries of its fixtures.
const GUIDES: &[(&str, &[Post])] = &[
    (
        "alertmanager.md",
        &[
            post(
                "alertmanager-v4.json",
                "/api/v1/webhooks/alertmanager",
                Key::Bearer,
            ),
            post(
                "alertmanager-watchdog-group.json",
                "/api/v1/webhooks/alertmanager",
                Key::Bearer,
            ),
        ],
    ),
    (
        "grafana.md",
        &[
            post(
                "grafana-documented-example.json",
                "/api/v1/webhooks/grafana",
                Key::Bearer,
            ),
            post(
                "grafana-resolved.json",
                "/api/v1/webhooks/grafana",
                Key::Bearer,
            ),
        ],
    ),
    (
        "datadog.md",
        &[
            post(
                "datadog-recommended-template.json",
                "/api/v1/webhooks/datadog",
                Key::Header,
            ),
            post(
                "datadog-recommended-template-recovered.json",
                "/api/v1/webhooks/datadog",
                Key::Header,
            ),
            post(
                "datadog-default-payload.json",
                "/api/v1/webhooks/datadog",
                Key::Header,
            ),
        ],
    ),
    (
        "cloudwatch-sns.md",
        &[
            Post {
                content_type: "text/plain; charset=UTF-8",
                ..post(
                    "cloudwatch-sns-subscription-confirmation.json",
                    "/api/v1/webhooks/cloudwatch",
                    Key::Query,
                )
            },
            Post {
                content_type: "text/plain; charset=UTF-8",
                ..post(
                    "cloudwatch-sns-alarm-notification.json",
                    "/api/v1/webhooks/cloudwatch",
                    Key::Query,
                )
            },
        ],
    ),
    (
        "zabbix.md",
        &[
            post(
                "zabbix-problem.json",
                "/api/v1/webhooks/zabbix",
                Key::Header,
            ),
            post(
                "zabbix-recovery.json",
                "/api/v1/webhooks/zabbix",
                Key::Header,
            ),
        ],
    ),
    (
        // The guide's main route is the /v2/enqueue drop-in (tested with the
        // official client where it is implemented); it also documents this
        // header-keyed form, which every PagerDuty-shaped body can use.
        "pagerduty.md",
        &[post(
            "pagerduty-sample-trigger.json",
            "/api/v1/webhooks/pagerduty",
            Key::Header,
        )],
    ),
    (
        "generic-curl.md",
        &[
            post(
                "generic-alert.json",
                "/api/v1/webhooks/generic",
                Key::Header,
            ),
            Post {
                signed: true,
                ..post(
                    "generic-batch.json",
                    "/api/v1/webhooks/generic",
                    Key::Header,
                )
            },
        ],
    ),
];

const FIXTURE_DIR: &str = "tests/fixtures/senders/";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn guide_text(guide: &str) -> String {
    std::fs::read_to_string(root().join("docs/senders").join(guide))
        .unwrap_or_else(|e| panic!("docs/senders/{guide}: {e}"))
}

/// The fixture file names a text mentions as `tests/fixtures/senders/<name>`.
fn fixtures_named(text: &str) -> BTreeSet<String> {
    text.match_indices(FIXTURE_DIR)
        .map(|(at, _)| {
            text[at + FIXTURE_DIR.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '.' || *c == '_')
                .collect::<String>()
                .trim_end_matches('.')
                .to_owned()
        })
        .filter(|name| !name.is_empty())
        .collect()
}

#[test]
fn every_guide_names_exactly_its_fixtures_and_they_exist() {
    let mut on_disk: Vec<String> = std::fs::read_dir(root().join("docs/senders"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".md") && name != "README.md")
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = GUIDES.iter().map(|(g, _)| (*g).to_owned()).collect();
    listed.sort();
    assert_eq!(
        on_disk, listed,
        "every guide is tested, every tested guide exists"
    );

    let index = guide_text("README.md");
    for (guide, posts) in GUIDES {
        let text = guide_text(guide);
        assert!(
            index.contains(&format!("({guide})")),
            "docs/senders/README.md links {guide}"
        );
        let named = fixtures_named(&text);
        assert!(!named.is_empty(), "{guide} names no fixture");
        let posted: BTreeSet<String> = posts.iter().map(|p| p.fixture.to_owned()).collect();
        assert_eq!(
            named, posted,
            "{guide}: fixtures named vs posted by this test"
        );
        for name in &named {
            let path = root().join(FIXTURE_DIR).join(name);
            assert!(path.is_file(), "{guide} names {name}, which does not exist");
            let body = std::fs::read_to_string(&path).unwrap();
            serde_json::from_str::<Value>(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        for post in *posts {
            assert!(
                text.contains(post.route),
                "{guide} documents {}",
                post.route
            );
        }
    }
    for doc in ["README.md", "docs/ingestion.md"] {
        let text = std::fs::read_to_string(root().join(doc)).unwrap();
        assert!(
            text.contains("docs/senders/") || text.contains("senders/README.md"),
            "{doc} links the guides"
        );
    }
}

/// A fixture's body as the tool would send it now: SNS envelopes get a
/// current `Timestamp` (it is checked against arrival, 300 s either way).
fn body_of(post: &Post) -> String {
    let text = std::fs::read_to_string(root().join(FIXTURE_DIR).join(post.fixture)).unwrap();
    if post.key != Key::Query {
        return text;
    }
    let mut envelope: Value = serde_json::from_str(&text).unwrap();
    envelope["Timestamp"] = json!(Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true));
    envelope.to_string()
}

async fn deliver(
    app: &TestApp,
    tenant: &TestTenant,
    secret: &SecretBytes,
    post: &Post,
) -> (u16, Value) {
    let body = body_of(post);
    let mut url = app.url(post.route);
    let mut request = app
        .client
        .post(&url)
        .header("Content-Type", post.content_type);
    request = match post.key {
        Key::Bearer => request.bearer_auth(&tenant.api_key),
        Key::Header => request.header("X-API-Key", &tenant.api_key),
        Key::Query => {
            url = format!("{url}?api_key={}", tenant.api_key);
            app.client
                .post(&url)
                .header("Content-Type", post.content_type)
        }
    };
    if post.signed {
        let now = Utc::now().timestamp();
        request = request.header("X-Timestamp", now.to_string()).header(
            "X-Signature",
            sign_x_signature_as_issued(secret, now, body.as_bytes()),
        );
    }
    let response = request.body(body).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn every_guide_fixture_is_accepted_through_its_documented_route_and_stored() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("guides").await;
    let admin = app.token(Role::TenantAdmin, &[tenant.id]);

    // generic-curl.md's signed example: the tenant requires signing, and the
    // signature is keyed with the secret text as issued (the guide's openssl
    // `-hmac "$SECRET"`). The other senders' guides say not to require
    // signing, so the signed delivery goes to a tenant of its own.
    let signed_tenant = app.create_tenant("guides-signed").await;
    let signed_admin = app.token(Role::TenantAdmin, &[signed_tenant.id]);
    let response = app
        .client
        .post(app.url(&format!(
            "/api/v1/tenants/{}/webhook-secrets",
            signed_tenant.id
        )))
        .bearer_auth(&signed_admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let issued: Value = response.json().await.unwrap();
    let secret = SecretBytes::parse_display(issued["secret"].as_str().unwrap()).unwrap();
    let response = app
        .client
        .put(app.url(&format!(
            "/api/v1/tenants/{}/webhook-signing",
            signed_tenant.id
        )))
        .bearer_auth(&signed_admin)
        .json(&json!({"required": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let mut stored = 0;
    for (guide, posts) in GUIDES {
        for post in *posts {
            let (target, token) = if post.signed {
                (&signed_tenant, &signed_admin)
            } else {
                (&tenant, &admin)
            };
            let recovery = ["resolved", "recovered", "recovery"]
                .iter()
                .any(|word| post.fixture.contains(word));
            let resolved_before = app.stored("AlertResolvedBySource").await;
            let (status, body) = deliver(&app, target, &secret, post).await;
            assert_eq!(status, 202, "{guide}: {} answered {body}", post.fixture);
            if let Some(subscription) = body.get("subscription_confirmation") {
                let list = app
                    .get_until(
                        &format!("/api/v1/tenants/{}/sns-subscriptions", target.id),
                        token,
                        |page| !page["items"].as_array().unwrap().is_empty(),
                    )
                    .await;
                assert_eq!(
                    list["items"][0]["subscribe_url"],
                    subscription["subscribe_url"]
                );
                stored += 1;
                continue;
            }
            if recovery {
                assert!(
                    app.stored("AlertResolvedBySource").await > resolved_before,
                    "{guide}: {} resolved nothing",
                    post.fixture
                );
            }
            let alerts = body["alerts"].as_array().unwrap();
            assert!(
                !alerts.is_empty(),
                "{guide}: {} stored nothing: {body}",
                post.fixture
            );
            assert_eq!(body["duplicates"], 0, "{guide}: {}", post.fixture);
            for alert in alerts {
                app.wait_until_consumed("alerts", alert["position"].as_i64().unwrap())
                    .await;
                let id = alert["alert_id"].as_str().unwrap();
                let response = app
                    .client
                    .get(app.url(&format!("/api/v1/alerts/{id}")))
                    .bearer_auth(token)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(
                    response.status(),
                    200,
                    "{guide}: {} alert {id}",
                    post.fixture
                );
                stored += 1;
            }
        }
    }
    assert!(stored >= GUIDES.iter().map(|(_, p)| p.len()).sum::<usize>());

    // Nothing was refused.
    assert_eq!(app.stored("DeliveryRejected").await, 0);
}
