//! PagerDuty's official Python client (`pagerduty` from PyPI, installed into
//! a virtualenv by scripts/test.sh, which exports its interpreter as
//! `ALERTLEDGER_TEST_PAGERDUTY_PYTHON`) against the PagerDuty drop-in routes,
//! unchanged but for its base URL. The client speaks only https: a second API
//! replica on the same database serves native TLS with a certificate this
//! test makes; the first (plain HTTP, with the projections) is asked what was
//! stored.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use alertledger_api::edge::{EdgeSettings, TlsSettings};
use alertledger_domain::values::Role;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType, IsCa, KeyPair,
};
use serde_json::Value;
use support::TestApp;

/// Where scripts/test.sh puts the client's interpreter.
const PYTHON_VAR: &str = "ALERTLEDGER_TEST_PAGERDUTY_PYTHON";

/// A certificate authority and a server certificate for 127.0.0.1 signed by
/// it, written under `dir`: (authority, certificate chain, key).
fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    // Distinct names: with rcgen's default one for both, OpenSSL (which the
    // client's Python uses) takes the server's certificate for self-signed.
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, "alertledger test authority");
    let authority = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
    let key_pair = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, "alertledger on 127.0.0.1");
    let certificate = params.signed_by(&key_pair, &authority).unwrap();
    let (ca, cert, key) = (dir.join("ca.crt"), dir.join("tls.crt"), dir.join("tls.key"));
    std::fs::write(&ca, authority.pem()).unwrap();
    std::fs::write(&cert, certificate.pem()).unwrap();
    std::fs::write(&key, key_pair.serialize_pem()).unwrap();
    (ca, cert, key)
}

#[tokio::test]
async fn pagerdutys_official_client_triggers_acknowledges_resolves_and_reports_a_change() {
    let python = std::env::var(PYTHON_VAR).unwrap_or_else(|_| {
        panic!(
            "{PYTHON_VAR} is unset: run scripts/test.sh, which installs PagerDuty's `pagerduty` \
             client into a virtualenv and exports its python"
        )
    });
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("acme").await;
    let dir = std::env::temp_dir().join(format!("alertledger-pd-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let (ca, cert, key) = certificates(&dir);
    let replica = app
        .spawn_replica(EdgeSettings {
            tls: Some(TlsSettings {
                cert,
                key,
                reload_interval: Duration::from_secs(60),
            }),
            ..EdgeSettings::default()
        })
        .await;

    let base_url = format!(
        "https://127.0.0.1:{}/api/v1/webhooks/pagerduty",
        replica.port
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pagerduty_client/send.py");
    let output = tokio::process::Command::new(&python)
        .arg(&script)
        .args([base_url.as_str(), tenant.api_key.as_str()])
        .arg(&ca)
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "send.py failed: {stderr}");
    let report: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("send.py printed no JSON ({e}); stderr: {stderr}"));

    // What the client got back.
    assert_eq!(report["keyed"], "srv01/mysql/replication-lag");
    let derived = report["derived"].as_str().unwrap();
    assert!(!derived.is_empty());
    assert_eq!(report["acknowledged_derived"], derived);
    assert_eq!(report["acknowledged_keyed"], "srv01/mysql/replication-lag");
    assert_eq!(report["resolved_keyed"], "srv01/mysql/replication-lag");

    // Refusals in PagerDuty's dialect, with our error object beside it.
    let invalid = &report["invalid"];
    assert_eq!(invalid["status"], 400, "{invalid}");
    assert_eq!(invalid["body"]["status"], "invalid event");
    assert_eq!(invalid["body"]["message"], "Event object is invalid");
    assert!(invalid["body"]["errors"][0]
        .as_str()
        .unwrap()
        .contains("payload"));
    assert_eq!(invalid["body"]["error"]["code"], "missing_field");
    assert_eq!(invalid["body"]["error"]["details"]["field"], "payload");
    let unauthorized = &report["unauthorized"];
    assert_eq!(unauthorized["status"], 401, "{unauthorized}");
    assert_eq!(unauthorized["body"]["status"], "unauthorized");
    assert_eq!(unauthorized["body"]["error"]["code"], "unauthorized");

    // What was stored, as the API reports it.
    let token = app.token(Role::Viewer, &[tenant.id]);
    let alerts = app
        .get_until("/api/v1/alerts?asset=srv01", &token, |body| {
            body["items"][0]["status"] == "resolved"
        })
        .await;
    let keyed = &alerts["items"][0];
    assert_eq!(alerts["items"].as_array().unwrap().len(), 1, "{alerts}");
    assert_eq!(keyed["signature"], "replication lag");
    assert_eq!(keyed["severity"], "high");
    assert_eq!(keyed["occurred_at"], "2015-07-17T08:42:58.315Z");
    assert!(
        keyed["acknowledged_at"].is_string(),
        "acknowledged before resolved: {keyed}"
    );
    let shown = app
        .get_until(
            &format!("/api/v1/alerts/{}", keyed["id"].as_str().unwrap()),
            &token,
            |_| true,
        )
        .await;
    assert_eq!(shown["labels"]["component"], "mysql");
    assert_eq!(shown["labels"]["replica"], "srv01-replica-2");
    assert_eq!(
        shown["normalization_warnings"],
        serde_json::json!([]),
        "PagerDuty's own timestamp form is no oddity: {shown}"
    );
    // An acknowledgement from the tool keeps the alert firing, acknowledged
    // by the source (the existing pagerduty mapping).
    let alerts = app
        .get_until("/api/v1/alerts?asset=db01", &token, |body| {
            body["items"][0]["acknowledged_at"].is_string()
        })
        .await;
    let derived_alert = &alerts["items"][0];
    assert_eq!(derived_alert["status"], "firing");
    assert_eq!(derived_alert["acknowledged_by"], "source:pagerduty");
    assert_eq!(derived_alert["severity"], "medium");
    assert_eq!(
        derived_alert["fingerprint"],
        format!("pagerduty:{derived}"),
        "the dedup key answered is the one the alert is known by"
    );
    assert_eq!(
        app.stored("AlertReceived").await,
        3,
        "two triggers and a resolve"
    );

    // The change event, as sent and without the routing key.
    let events = app
        .get_until("/api/v1/events?types=ChangeEventReceived", &token, |body| {
            !body["items"].as_array().unwrap().is_empty()
        })
        .await;
    let change = &events["items"][0]["payload"]["ChangeEventReceived"];
    assert_eq!(change["tenant_id"], tenant.id.to_string());
    assert_eq!(change["summary"], "Build 42 deployed to production");
    assert_eq!(change["source"], "ci.example.com");
    assert_eq!(change["timestamp"], "2026-12-06T05:30:00Z");
    assert_eq!(change["custom_details"]["build_number"], "42");
    assert_eq!(
        change["links"][0]["href"],
        "https://ci.example.com/builds/42"
    );
    assert_eq!(events["items"][0]["event_type"], "ChangeEventReceived");

    // The invalid event is kept as a refused delivery, the key redacted;
    // the unknown key's is counted only.
    let deliveries = app
        .get_until("/api/v1/deliveries?status=rejected", &token, |body| {
            !body["items"].as_array().unwrap().is_empty()
        })
        .await;
    let items = deliveries["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{deliveries}");
    assert_eq!(items[0]["source"], "pagerduty");
    assert_eq!(items[0]["status"], 400);
    // API.md's `excerpt`, the same text as `body_excerpt`.
    let excerpt = items[0]["excerpt"].as_str().unwrap();
    assert_eq!(items[0]["body_excerpt"], items[0]["excerpt"]);
    assert!(excerpt.contains("[redacted]"), "{excerpt}");
    let stored_keys: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE payload::text LIKE '%' || $1 || '%'")
            .bind(&tenant.api_key)
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert_eq!(stored_keys, 0, "the routing key is never stored");
    std::fs::remove_dir_all(&dir).unwrap();
}
