//! The sealed log end to end: the published key, inclusion and consistency
//! proofs over HTTP (scoped to the caller's tenants), and the CLI's verify,
//! export and offline bundle check against the running application's database.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;

use alertledger_domain::values::Role;
use alertledger_seal::tree::{verify_consistency, verify_inclusion};
use alertledger_seal::{Hash, PublicKey, SignedCheckpoint};
use serde_json::Value;
use support::{audit_signer, generic_alert, TestApp};

fn hash(value: &Value) -> Hash {
    Hash::from_hex(value.as_str().unwrap()).unwrap()
}

async fn webhook_position(app: &TestApp, tenant: &support::TestTenant, asset: &str) -> i64 {
    let response = app.post_alert(tenant, &generic_alert(asset)).await;
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    body["alerts"][0]["position"].as_i64().unwrap()
}

/// GETs `path` until it answers 200 (the sealer and checkpointer follow the
/// log asynchronously), returning the body.
async fn get_when_sealed(app: &TestApp, path: &str, token: &str) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let response = app
            .client
            .get(app.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        if status == 200 {
            return body;
        }
        assert_eq!(status, 409, "GET {path}: {body}");
        assert_eq!(body["error"]["code"], "not_yet_sealed");
        assert!(std::time::Instant::now() < deadline, "{path} never sealed");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_checkpoint_key_is_published_without_credentials() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .get(app.url("/api/v1/audit/public-key"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let expected = audit_signer().public_key();
    assert_eq!(body["algorithm"], "Ed25519");
    assert_eq!(body["key_id"], expected.key_id());
    let published = PublicKey::from_pem(body["public_key_pem"].as_str().unwrap()).unwrap();
    assert_eq!(published, expected);
}

#[tokio::test]
async fn an_event_has_an_inclusion_proof_in_the_signed_checkpoint_for_its_own_tenant_only() {
    let app = TestApp::spawn().await;
    let acme = app.create_tenant("acme").await;
    let globex = app.create_tenant("globex").await;
    let position = webhook_position(&app, &acme, "web01").await;
    webhook_position(&app, &globex, "db01").await;
    let token = app.token(Role::Viewer, &[acme.id]);

    let body = get_when_sealed(
        &app,
        &format!("/api/v1/audit/proof?position={position}"),
        &token,
    )
    .await;
    assert_eq!(body["position"], position);
    assert_eq!(body["tenant_id"], acme.id.to_string());
    let path: Vec<Hash> = body["audit_path"]
        .as_array()
        .unwrap()
        .iter()
        .map(hash)
        .collect();
    let (index, size) = (
        body["leaf_index"].as_u64().unwrap(),
        body["tree_size"].as_u64().unwrap(),
    );
    let root = hash(&body["root_hash"]);
    verify_inclusion(index, size, &hash(&body["leaf_hash"]), &path, &root).unwrap();
    // The checkpoint is signed by the published key, and its root is the one proven.
    let checkpoint: SignedCheckpoint = serde_json::from_value(body["checkpoint"].clone()).unwrap();
    checkpoint.verify(&[audit_signer().public_key()]).unwrap();
    assert_eq!(checkpoint.checkpoint.root_hash, root);
    assert_eq!(body["checkpoint"]["body"], checkpoint.checkpoint.body());
    // The leaf is the event as stored, hashed as docs/audit-bundle.md says.
    let stored: (
        String,
        String,
        i64,
        String,
        String,
        String,
        String,
        chrono::DateTime<chrono::Utc>,
        uuid::Uuid,
    ) = sqlx::query_as(
        "SELECT aggregate_type, aggregate_id, sequence, event_type, event_version,
                    payload::text, metadata::text, recorded_at, tenant_id
               FROM events WHERE position = $1",
    )
    .bind(position)
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    let fields = alertledger_seal::EventFields {
        position,
        tenant_id: stored.8,
        aggregate_type: &stored.0,
        aggregate_id: &stored.1,
        sequence: stored.2,
        event_type: &stored.3,
        event_version: &stored.4,
        payload: stored.5.as_bytes(),
        metadata: stored.6.as_bytes(),
        recorded_at_us: stored.7.timestamp_micros(),
    };
    assert_eq!(fields.leaf_hash(), hash(&body["leaf_hash"]));

    // Another tenant's caller cannot tell the event exists.
    let foreign = app.token(Role::TenantAdmin, &[globex.id]);
    let response = app
        .client
        .get(app.url(&format!("/api/v1/audit/proof?position={position}")))
        .bearer_auth(&foreign)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "event_not_found");
    for (query, status, field) in [
        ("", 400, "position"),
        ("?position=abc", 422, "position"),
        ("?position=0", 422, "position"),
    ] {
        let response = app
            .client
            .get(app.url(&format!("/api/v1/audit/proof{query}")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{query}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["details"]["field"], field);
    }
    let unknown = app
        .client
        .get(app.url("/api/v1/audit/proof?position=999999"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let anonymous = app
        .client
        .get(app.url(&format!("/api/v1/audit/proof?position={position}")))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
}

#[tokio::test]
async fn consistency_proofs_link_earlier_checkpoints_to_later_ones() {
    let app = TestApp::spawn().await;
    let acme = app.create_tenant("acme").await;
    let token = app.token(Role::Viewer, &[acme.id]);
    let first = webhook_position(&app, &acme, "web01").await;
    let early = get_when_sealed(
        &app,
        &format!("/api/v1/audit/proof?position={first}"),
        &token,
    )
    .await;
    let second = webhook_position(&app, &acme, "web02").await;
    let late = get_when_sealed(
        &app,
        &format!("/api/v1/audit/proof?position={second}"),
        &token,
    )
    .await;
    let (from, to) = (
        early["tree_size"].as_u64().unwrap(),
        late["tree_size"].as_u64().unwrap(),
    );
    assert!(from < to);
    let body = get_when_sealed(
        &app,
        &format!("/api/v1/audit/consistency?from={from}&to={to}"),
        &token,
    )
    .await;
    let proof: Vec<Hash> = body["proof"].as_array().unwrap().iter().map(hash).collect();
    // Against the roots the two signed checkpoints carry.
    verify_consistency(
        from,
        to,
        &hash(&early["root_hash"]),
        &hash(&late["root_hash"]),
        &proof,
    )
    .unwrap();
    assert_eq!(hash(&body["from_root"]), hash(&early["root_hash"]));

    let beyond = app
        .client
        .get(app.url(&format!(
            "/api/v1/audit/consistency?from=1&to={}",
            to + 1_000
        )))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(beyond.status(), 422);
    let reversed = app
        .client
        .get(app.url("/api/v1/audit/consistency?from=3&to=2"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(reversed.status(), 422);
}

fn alertledger(args: &[&str], database_url: &str) -> std::process::Output {
    support::process::alertledger()
        .args(args)
        .env("DATABASE_URL", database_url)
        .env_remove("ALERTLEDGER_SIGNING_KEY")
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn an_exported_bundle_verifies_offline_and_fails_when_one_byte_changes() {
    let app = TestApp::spawn().await;
    let acme = app.create_tenant("acme").await;
    let globex = app.create_tenant("globex").await;
    let token = app.token(Role::Viewer, &[acme.id]);
    let mut last = 0;
    for asset in ["web01", "web02", "db01"] {
        last = webhook_position(&app, &acme, asset).await;
        webhook_position(&app, &globex, asset).await;
    }
    get_when_sealed(
        &app,
        &format!("/api/v1/audit/proof?position={last}"),
        &token,
    )
    .await;

    let dir = std::env::temp_dir().join(format!("alertledger-bundle-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let key_file = dir.join("published.pem");
    std::fs::write(&key_file, audit_signer().public_key().to_pem().unwrap()).unwrap();
    let bundle = dir.join("bundle");
    let url = app.db.url().to_owned();
    let (bundle_arg, key_arg) = (bundle.to_str().unwrap(), key_file.to_str().unwrap());
    let tenant = acme.id.to_string();

    // The whole database verifies with the published key.
    let verified = alertledger(&["audit", "verify", "--public-key", key_arg], &url);
    assert!(
        verified.status.success(),
        "{}{}",
        stdout(&verified),
        String::from_utf8_lossy(&verified.stderr)
    );
    assert!(
        stdout(&verified).starts_with("audit verify: OK"),
        "{}",
        stdout(&verified)
    );

    let exported = alertledger(
        &[
            "events",
            "export",
            "--tenant",
            &tenant,
            "--to",
            &last.to_string(),
            "--out",
            bundle_arg,
        ],
        &url,
    );
    assert!(
        exported.status.success(),
        "{}",
        String::from_utf8_lossy(&exported.stderr)
    );
    let events = std::fs::read_to_string(bundle.join("events.ndjson")).unwrap();
    // The tenant's three receipts among its events; nothing of globex.
    assert_eq!(
        events.matches(r#""event_type":"AlertReceived""#).count(),
        3,
        "{events}"
    );
    assert!(!events.contains(&globex.id.to_string()));

    let checked = alertledger(
        &[
            "audit",
            "verify-bundle",
            bundle_arg,
            "--public-key",
            key_arg,
        ],
        "",
    );
    assert!(checked.status.success(), "{}", stdout(&checked));
    assert!(
        stdout(&checked).starts_with("bundle OK"),
        "{}",
        stdout(&checked)
    );

    // One byte of one payload changed: the offline check fails, naming the event.
    let mut bytes = events.clone().into_bytes();
    let at = events.find("web02").unwrap();
    bytes[at] = b'x';
    std::fs::write(bundle.join("events.ndjson"), &bytes).unwrap();
    let tampered = alertledger(
        &[
            "audit",
            "verify-bundle",
            bundle_arg,
            "--public-key",
            key_arg,
        ],
        "",
    );
    assert!(!tampered.status.success());
    assert!(
        stdout(&tampered).contains("bundle FAILED"),
        "{}",
        stdout(&tampered)
    );
    assert!(
        stdout(&tampered).contains("altered"),
        "{}",
        stdout(&tampered)
    );

    // Another key than the published one is refused.
    std::fs::write(bundle.join("events.ndjson"), events).unwrap();
    let other = dir.join("other.pem");
    let generated = alertledger(&["audit", "keygen", "--out", other.to_str().unwrap()], "");
    assert!(generated.status.success());
    assert!(
        !alertledger(&["audit", "keygen", "--out", other.to_str().unwrap()], "")
            .status
            .success(),
        "never overwrites"
    );
    let other_public = dir.join("other-public.pem");
    let pem = stdout(&generated);
    let public_pem = &pem[pem.find("-----BEGIN PUBLIC KEY-----").unwrap()..];
    std::fs::write(&other_public, public_pem).unwrap();
    let unpinned = alertledger(
        &[
            "audit",
            "verify-bundle",
            bundle_arg,
            "--public-key",
            other_public.to_str().unwrap(),
        ],
        "",
    );
    assert!(!unpinned.status.success(), "{}", stdout(&unpinned));
    assert_private_key_file(&other);
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(unix)]
fn assert_private_key_file(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).unwrap().permissions().mode();
    assert_eq!(
        mode & 0o777,
        0o600,
        "the private key is readable by its owner only"
    );
}

#[cfg(not(unix))]
fn assert_private_key_file(_: &Path) {}
