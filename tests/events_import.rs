//! `events import` (issue 17, item 6; docs/audit-bundle.md "Importing a
//! bundle"): a tenant exported from one installation's database is imported
//! into another, fresh one with the real binary. The events keep their
//! identity, content and order; a second import writes nothing; the target's
//! read models show the tenant and its workers decide nothing again; a
//! tampered, an unpinned and a conflicting bundle are refused with nothing
//! written.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

use alertledger_domain::values::Role;
use alertledger_domain::{Clock, DomainServices, FixedClock};
use alertledger_schema::TestDatabase;
use alertledger_seal::bundle::{
    BundleEvent, BundleLeaf, BundleParts, EVENTS_FILE, LEAVES_FILE, MANIFEST_FILE, PUBLIC_KEY_FILE,
};
use alertledger_seal::{Checkpoint, CheckpointSigner, CompactRange, Hash};
use alertledger_workers::background::WorkerSettings;
use chrono::Utc;
use serde_json::{json, Value};
use support::{audit_signer, generic_alert, TestApp, TestTenant};

fn alertledger(database_url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_alertledger"))
        .args(args)
        .env("DATABASE_URL", database_url)
        .env_remove("ALERTLEDGER_OWNER_DATABASE_URL")
        .env_remove("ALERTLEDGER_SIGNING_KEY")
        .env_remove("ALERTLEDGER_CONFIG")
        .env("ALERTLEDGER_LOG_FORMAT", "json")
        .env("RUST_LOG", "warn")
        .output()
        .expect("run alertledger")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// An event's identity and sealed content: aggregate type and id,
/// sequence, type, version, payload, metadata, recorded_at (microseconds).
type StoredEvent = (String, String, i64, String, String, String, String, i64);

/// Every sealed field of the tenant's events, in log order.
async fn events_of(pool: &sqlx::PgPool, tenant: uuid::Uuid) -> Vec<StoredEvent> {
    sqlx::query_as(
        "SELECT aggregate_type, aggregate_id, sequence, event_type, event_version,
                payload::text, metadata::text,
                (extract(epoch FROM recorded_at) * 1000000)::bigint
           FROM events WHERE tenant_id = $1 ORDER BY transaction_id, position",
    )
    .bind(tenant)
    .fetch_all(pool)
    .await
    .unwrap()
}

async fn count_events(pool: &sqlx::PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(pool)
        .await
        .unwrap()
}

/// A source installation with a tenant that has two incidents (one
/// acknowledged), exported into `dir` once a checkpoint covers it all.
async fn exported_tenant(source: &TestApp, dir: &Path) -> TestTenant {
    let tenant = source.create_tenant("moving").await;
    for asset in ["web01", "db01"] {
        let response = source.post_alert(&tenant, &generic_alert(asset)).await;
        assert_eq!(response.status(), 202);
    }
    let viewer = source.token(Role::Viewer, &[tenant.id]);
    let page = source
        .get_until(
            &format!("/api/v1/incidents?tenant={}", tenant.id),
            &viewer,
            |body| {
                body["items"]
                    .as_array()
                    .is_some_and(|items| items.len() == 2)
            },
        )
        .await;
    let incident = page["items"][0]["id"].as_str().unwrap();
    let technician = source.token(Role::Technician, &[tenant.id]);
    let response = source
        .client
        .post(source.url(&format!("/api/v1/incidents/{incident}/acknowledge")))
        .bearer_auth(&technician)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    export_when_sealed(source, &tenant, dir).await;
    tenant
}

/// Exports `tenant` into `dir` once a checkpoint covers all its events.
async fn export_when_sealed(source: &TestApp, tenant: &TestTenant, dir: &Path) {
    let last: i64 = sqlx::query_scalar("SELECT max(position) FROM events WHERE tenant_id = $1")
        .bind(tenant.id.as_uuid())
        .fetch_one(source.db.pool())
        .await
        .unwrap();
    let admin = source.token(Role::MspAdmin, &[]);
    source
        .get_when_sealed(&format!("/api/v1/audit/proof?position={last}"), &admin)
        .await;
    let out = dir.to_str().unwrap();
    let id = tenant.id.to_string();
    let output = alertledger(
        source.db.url(),
        &["events", "export", "--tenant", &id, "--out", out],
    );
    assert!(output.status.success(), "{}", text(&output));
}

fn public_key_file(dir: &Path) -> String {
    let path = dir.join("service-key.pem");
    std::fs::write(&path, audit_signer().public_key().to_pem().unwrap()).unwrap();
    path.to_str().unwrap().to_owned()
}

fn copy_bundle(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for name in [MANIFEST_FILE, EVENTS_FILE, LEAVES_FILE, PUBLIC_KEY_FILE] {
        std::fs::copy(from.join(name), to.join(name)).unwrap();
    }
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "alertledger-import-{name}-{}",
        uuid::Uuid::now_v7()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn a_tenant_moves_to_a_fresh_installation_with_its_events_intact_and_only_once() {
    let source = TestApp::spawn().await;
    let work = scratch("move");
    let bundle = work.join("bundle");
    let tenant = exported_tenant(&source, &bundle).await;
    let key = public_key_file(&work);
    let dir = bundle.to_str().unwrap();
    let expected = events_of(source.db.pool(), *tenant.id.as_uuid()).await;

    let target = TestApp::spawn().await;
    let output = alertledger(
        target.db.url(),
        &["events", "import", dir, "--public-key", &key],
    );
    assert!(output.status.success(), "{}", text(&output));
    let report = text(&output);
    assert!(
        report.contains(&format!("written             {}", expected.len())),
        "{report}"
    );

    // Same identities, types, payloads, metadata and times, in the same order.
    let imported = events_of(target.db.pool(), *tenant.id.as_uuid()).await;
    assert_eq!(imported, expected);
    // The target gave them its own positions, in bundle order, in one transaction.
    let positions: Vec<(i64, String)> = sqlx::query_as(
        "SELECT position, transaction_id::text FROM events WHERE tenant_id = $1 ORDER BY position",
    )
    .bind(tenant.id.as_uuid())
    .fetch_all(target.db.pool())
    .await
    .unwrap();
    assert!(positions.windows(2).all(|pair| pair[0].1 == pair[1].1));
    let recorded: (i64, i64) = sqlx::query_as(
        "SELECT events_written, first_position FROM event_imports WHERE tenant_id = $1",
    )
    .bind(tenant.id.as_uuid())
    .fetch_one(target.db.pool())
    .await
    .unwrap();
    assert_eq!(recorded, (expected.len() as i64, positions[0].0));

    // Twice: nothing more is written.
    let again = alertledger(
        target.db.url(),
        &["events", "import", dir, "--public-key", &key],
    );
    assert!(again.status.success(), "{}", text(&again));
    assert!(
        text(&again).contains("written             0"),
        "{}",
        text(&again)
    );
    assert_eq!(
        events_of(target.db.pool(), *tenant.id.as_uuid()).await,
        expected
    );

    // The target's read models show the tenant's incidents and alerts.
    let viewer = target.token(Role::Viewer, &[tenant.id]);
    let incidents = target
        .get_until(
            &format!("/api/v1/incidents?tenant={}", tenant.id),
            &viewer,
            |body| {
                body["items"]
                    .as_array()
                    .is_some_and(|items| items.len() == 2)
            },
        )
        .await;
    let statuses: Vec<&str> = incidents["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["status"].as_str().unwrap())
        .collect();
    assert!(
        statuses.contains(&"acknowledged") && statuses.contains(&"new"),
        "{statuses:?}"
    );
    target
        .get_until(
            &format!("/api/v1/alerts?tenant={}", tenant.id),
            &viewer,
            |body| {
                body["items"]
                    .as_array()
                    .is_some_and(|items| items.len() == 2)
            },
        )
        .await;

    // The correlator passed over the imported receipts: no second incident.
    let last = positions.last().unwrap().0;
    target.wait_until_consumed("correlator", last).await;
    target.wait_until_consumed("runbook-dispatcher", last).await;
    let opened: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE tenant_id = $1 AND event_type = 'IncidentOpened'",
    )
    .bind(tenant.id.as_uuid())
    .fetch_one(target.db.pool())
    .await
    .unwrap();
    assert_eq!(opened, 2);
    assert_eq!(
        events_of(target.db.pool(), *tenant.id.as_uuid()).await,
        expected
    );

    // The tenant's API key came along (its hash is in the log), and new
    // alerts are decided here.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let response = target.post_alert(&tenant, &generic_alert("app01")).await;
        if response.status() == 202 {
            break;
        }
        assert_eq!(response.status(), 401);
        assert!(Instant::now() < deadline, "the moved API key never worked");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    target
        .get_until(
            &format!("/api/v1/incidents?tenant={}", tenant.id),
            &viewer,
            |body| {
                body["items"]
                    .as_array()
                    .is_some_and(|items| items.len() == 3)
            },
        )
        .await;

    // And the target's own seal covers the imported events: audit verify passes.
    let admin = target.token(Role::MspAdmin, &[]);
    target
        .get_when_sealed(&format!("/api/v1/audit/proof?position={last}"), &admin)
        .await;
    let verify = alertledger(target.db.url(), &["audit", "verify", "--public-key", &key]);
    assert!(verify.status.success(), "{}", text(&verify));
    assert!(
        text(&verify).contains("audit verify: OK"),
        "{}",
        text(&verify)
    );
    let _ = std::fs::remove_dir_all(&work);
}

#[tokio::test]
async fn a_tampered_unpinned_or_conflicting_bundle_is_refused_and_nothing_is_written() {
    let source = TestApp::spawn().await;
    let work = scratch("refuse");
    let bundle = work.join("bundle");
    let tenant = exported_tenant(&source, &bundle).await;
    let key = public_key_file(&work);
    let target = TestDatabase::create().await;
    let before = count_events(target.pool()).await;

    // One changed byte in an event.
    let tampered = work.join("tampered");
    copy_bundle(&bundle, &tampered);
    let events = std::fs::read_to_string(tampered.join(EVENTS_FILE)).unwrap();
    assert!(events.contains("db01"));
    std::fs::write(
        tampered.join(EVENTS_FILE),
        events.replacen("db01", "db02", 1),
    )
    .unwrap();
    let output = alertledger(
        target.url(),
        &[
            "events",
            "import",
            tampered.to_str().unwrap(),
            "--public-key",
            &key,
        ],
    );
    assert!(
        !output.status.success(),
        "a tampered bundle was imported: {}",
        text(&output)
    );
    assert!(
        text(&output).contains("does not verify"),
        "{}",
        text(&output)
    );
    assert_eq!(count_events(target.pool()).await, before);

    // Without a pinned key (or the explicit insecure flag): refused unread.
    let output = alertledger(
        target.url(),
        &["events", "import", bundle.to_str().unwrap()],
    );
    assert!(!output.status.success(), "{}", text(&output));
    assert!(text(&output).contains("--public-key"), "{}", text(&output));
    assert_eq!(count_events(target.pool()).await, before);

    // Signed by someone else: refused against the service's key...
    let forger = CheckpointSigner::from_seed([7; 32]);
    let forged = work.join("forged");
    write_resigned(&bundle, &forged, &forger, |events| {
        let receipt = events
            .iter_mut()
            .rev()
            .find(|event| event.event_type == "AlertReceived")
            .unwrap();
        receipt.payload = receipt.payload.replacen("HighCPU", "LowCPU", 1);
    });
    let output = alertledger(
        target.url(),
        &[
            "events",
            "import",
            forged.to_str().unwrap(),
            "--public-key",
            &key,
        ],
    );
    assert!(!output.status.success(), "{}", text(&output));
    assert_eq!(count_events(target.pool()).await, before);

    // ...and a history that conflicts with one already here, even when its
    // signature is trusted, is refused whole.
    let output = alertledger(
        target.url(),
        &[
            "events",
            "import",
            bundle.to_str().unwrap(),
            "--public-key",
            &key,
        ],
    );
    assert!(output.status.success(), "{}", text(&output));
    let imported = count_events(target.pool()).await;
    assert!(imported > before);
    let output = alertledger(
        target.url(),
        &[
            "events",
            "import",
            forged.to_str().unwrap(),
            "--trust-bundle-key",
        ],
    );
    assert!(!output.status.success(), "{}", text(&output));
    assert!(
        text(&output).contains("other content (payload differs)"),
        "{}",
        text(&output)
    );
    assert_eq!(count_events(target.pool()).await, imported);

    // A partial history (not from the start) into a fresh database: refused.
    let partial = work.join("partial");
    write_resigned(&bundle, &partial, &forger, |events| {
        events.remove(0);
    });
    let fresh = TestDatabase::create().await;
    let output = alertledger(
        fresh.url(),
        &[
            "events",
            "import",
            partial.to_str().unwrap(),
            "--trust-bundle-key",
        ],
    );
    assert!(!output.status.success(), "{}", text(&output));
    assert!(
        text(&output).contains("does not exist here"),
        "{}",
        text(&output)
    );
    assert_eq!(count_events(fresh.pool()).await, 0);
    let _ = tenant;
    let _ = std::fs::remove_dir_all(&work);
}

/// Writes `from`'s events, changed by `change`, as a self-contained bundle
/// (a tree of those events alone) signed by `signer`.
fn write_resigned(
    from: &Path,
    to: &Path,
    signer: &CheckpointSigner,
    change: impl FnOnce(&mut Vec<BundleEvent>),
) {
    let text = std::fs::read_to_string(from.join(EVENTS_FILE)).unwrap();
    let mut events: Vec<BundleEvent> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    change(&mut events);
    for (index, event) in events.iter_mut().enumerate() {
        event.leaf_index = index as u64;
    }
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(from.join(MANIFEST_FILE)).unwrap()).unwrap();
    let tenant: uuid::Uuid = manifest["tenant_id"].as_str().unwrap().parse().unwrap();
    let mut tree = CompactRange::new();
    for event in &events {
        tree.append(event.fields().leaf_hash());
    }
    let checkpoint = signer.sign(Checkpoint {
        tree_size: events.len() as u64,
        root_hash: tree.root(),
        last_position: events.last().unwrap().position,
        time_us: 1,
        previous: Hash::default(),
    });
    let files = BundleParts {
        tenant_id: tenant,
        first_leaf: 0,
        end_leaf: events.len() as u64,
        prefix: CompactRange::new(),
        leaves: events
            .iter()
            .map(|event| BundleLeaf {
                leaf_index: event.leaf_index,
                position: event.position,
                tenant_id: event.tenant_id,
                body_digest: event.fields().body_digest(),
            })
            .collect(),
        events,
        checkpoint,
        public_key: signer.public_key(),
    }
    .to_files()
    .unwrap();
    std::fs::create_dir_all(to).unwrap();
    for (name, content) in [
        (MANIFEST_FILE, &files.manifest),
        (EVENTS_FILE, &files.events),
        (LEAVES_FILE, &files.leaves),
        (PUBLIC_KEY_FILE, &files.public_key),
    ] {
        std::fs::write(to.join(name), content).unwrap();
    }
}

/// POSTs `body` to `path` as `token`; the status and the JSON answer.
async fn post_json(app: &TestApp, path: &str, token: &str, body: Value) -> (u16, Value) {
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

/// How many `EscalationLevelReached` of `incident` are stored.
async fn levels_of(pool: &sqlx::PgPool, incident: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM events
          WHERE event_type = 'EscalationLevelReached'
            AND payload->'EscalationLevelReached'->>'incident_id' = $1",
    )
    .bind(incident)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// The incident of `asset`'s alert, once correlated.
async fn incident_of(app: &TestApp, tenant: &TestTenant, asset: &str) -> String {
    let viewer = app.token(Role::Viewer, &[tenant.id]);
    let page = app
        .get_until(
            &format!("/api/v1/incidents?tenant={}", tenant.id),
            &viewer,
            |body| {
                body["items"]
                    .as_array()
                    .is_some_and(|items| items.iter().any(|item| item["asset"] == asset))
            },
        )
        .await;
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item["asset"] == asset)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Starts `policy` on `incident` and waits for its first level.
async fn escalate(app: &TestApp, tenant: &TestTenant, incident: &str, policy: &str) {
    let technician = app.token(Role::Technician, &[tenant.id]);
    let (status, body) = post_json(
        app,
        &format!("/api/v1/incidents/{incident}/escalation"),
        &technician,
        json!({"policy_id": policy}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while levels_of(app.db.pool(), incident).await == 0 {
        assert!(
            Instant::now() < deadline,
            "level 1 of {incident} never recorded"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Workers whose escalator looks every 50 ms, on `clock`.
fn escalating_workers(clock: Option<Arc<FixedClock>>) -> WorkerSettings {
    WorkerSettings {
        escalation_check: Duration::from_millis(50),
        escalation_services: clock.map(|clock| DomainServices::new(clock as Arc<dyn Clock>)),
        ..WorkerSettings::default()
    }
}

#[tokio::test]
async fn an_imported_escalation_is_not_escalated_again_here_even_after_a_rebuild() {
    // The source: an incident whose three-level policy reached level 1, its
    // next level due in ten minutes, when the tenant was exported.
    let source = TestApp::spawn_with_background(escalating_workers(None)).await;
    let work = scratch("escalation");
    let bundle = work.join("bundle");
    let tenant = source.create_tenant("escalating").await;
    let admin = source.token(Role::TenantAdmin, &[tenant.id]);
    let (status, channel) = post_json(
        &source,
        &format!("/api/v1/tenants/{}/notification-channels", tenant.id),
        &admin,
        json!({"type": "slack", "name": "Ops",
               "config": {"url": "https://hooks.slack.com/services/T000/B000/XXXXXXXX"}}),
    )
    .await;
    assert_eq!(status, 201, "{channel}");
    let (status, policy) = post_json(
        &source,
        &format!("/api/v1/tenants/{}/escalation-policies", tenant.id),
        &admin,
        json!({"name": "Everyone", "repeat": 0, "levels": [
            {"delay_minutes": 10, "channels": [channel["id"]]},
            {"delay_minutes": 10, "channels": [channel["id"]]},
            {"delay_minutes": 10, "channels": [channel["id"]]}]}),
    )
    .await;
    assert_eq!(status, 201, "{policy}");
    let policy = policy["id"].as_str().unwrap().to_owned();
    let response = source.post_alert(&tenant, &generic_alert("web01")).await;
    assert_eq!(response.status(), 202);
    let imported_incident = incident_of(&source, &tenant, "web01").await;
    escalate(&source, &tenant, &imported_incident, &policy).await;
    export_when_sealed(&source, &tenant, &bundle).await;
    let key = public_key_file(&work);
    let expected = events_of(source.db.pool(), *tenant.id.as_uuid()).await;

    // The target's escalator runs a day ahead: every imported step would be
    // due at once, were the escalation on its due list.
    let ahead = Arc::new(FixedClock::new(Utc::now() + chrono::Duration::days(1)));
    let target = TestApp::spawn_with_background(escalating_workers(Some(ahead))).await;
    let output = alertledger(
        target.db.url(),
        &[
            "events",
            "import",
            bundle.to_str().unwrap(),
            "--public-key",
            &key,
        ],
    );
    assert!(output.status.success(), "{}", text(&output));
    let last: i64 = sqlx::query_scalar("SELECT max(position) FROM events")
        .fetch_one(target.db.pool())
        .await
        .unwrap();
    let due_list = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM escalation_timers")
            .fetch_one(target.db.pool())
            .await
            .unwrap()
    };
    // Once the due list's consumer has read the import, the imported
    // escalation is not on it: nothing here can record its next level.
    target.wait_until_consumed("escalation-timers", last).await;
    assert_eq!(due_list().await, 0);
    assert_eq!(levels_of(target.db.pool(), &imported_incident).await, 1);

    // A rebuild of the due list passes over the same imported events.
    let rebuilt = alertledger(
        target.db.url(),
        &["projections", "rebuild", "escalation-timers"],
    );
    assert!(rebuilt.status.success(), "{}", text(&rebuilt));
    assert_eq!(due_list().await, 0);

    // This installation's own escalations are still decided here: one of
    // an incident opened here runs through the imported policy's levels.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let response = target.post_alert(&tenant, &generic_alert("db01")).await;
        if response.status() == 202 {
            break;
        }
        assert_eq!(response.status(), 401);
        assert!(Instant::now() < deadline, "the moved API key never worked");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let local_incident = incident_of(&target, &tenant, "db01").await;
    escalate(&target, &tenant, &local_incident, &policy).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while levels_of(target.db.pool(), &local_incident).await < 3 {
        assert!(Instant::now() < deadline, "the local escalation stalled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // And the imported one still never moved.
    assert_eq!(levels_of(target.db.pool(), &imported_incident).await, 1);
    let imported = events_of(target.db.pool(), *tenant.id.as_uuid()).await;
    assert_eq!(&imported[..expected.len()], &expected[..]);
    let _ = std::fs::remove_dir_all(&work);
}
