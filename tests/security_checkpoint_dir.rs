//! H3, checkpoints outside the database (issue 16): with
//! `ALERTLEDGER_CHECKPOINT_DIR` every signed checkpoint is also a JSON file
//! there, and `audit verify --checkpoints DIR` checks the log against those
//! files, so history rewritten and resealed in the database (checkpoints
//! wiped too) is caught by the copies it could not reach.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use alertledger_sealed_log::checkpoint_files::{read_all, CheckpointFile, FORMAT};
use alertledger_workers::background::WorkerSettings;
use alertledger_workers::sealer::checkpointer::CheckpointSettings;
use serde_json::Value;
use support::process::alertledger;
use support::{audit_signer, generic_alert, TestApp};

fn scratch_dir() -> PathBuf {
    std::env::temp_dir().join(format!("alertledger-ckpt-{}", uuid::Uuid::new_v4()))
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(app.db.pool())
        .await
        .unwrap()
}

/// `alertledger audit verify` on the app's database: (success, stdout).
fn audit_verify(app: &TestApp, key: &Path, checkpoints: Option<&Path>) -> (bool, String) {
    let mut command = alertledger();
    command
        .args(["audit", "verify", "--public-key"])
        .arg(key)
        .env("DATABASE_URL", app.db.url());
    if let Some(dir) = checkpoints {
        command.arg("--checkpoints").arg(dir);
    }
    let output = command.output().unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[tokio::test]
async fn checkpoint_files_catch_a_rewritten_and_resealed_log() {
    let dir = scratch_dir();
    let app = TestApp::spawn_with_background(WorkerSettings {
        checkpoints: CheckpointSettings {
            directory: Some(dir.clone()),
            ..CheckpointSettings::default()
        },
        ..WorkerSettings::default()
    })
    .await;
    let tenant = app.create_tenant("acme").await;
    let mut first = None;
    for asset in ["web01", "web02", "db01"] {
        let response = app.post_alert(&tenant, &generic_alert(asset)).await;
        assert_eq!(response.status(), 202);
        let body: Value = response.json().await.unwrap();
        first.get_or_insert(body["alerts"][0]["position"].as_i64().unwrap());
    }
    // Every event checkpointed, and the newest checkpoint's file written.
    let deadline = Instant::now() + Duration::from_secs(30);
    let files = loop {
        let events = count(&app, "SELECT count(*) FROM events").await;
        let files = read_all(&dir).unwrap();
        let newest = files.last().map_or(0, |f| f.signed.checkpoint.tree_size);
        if events > 0 && newest == u64::try_from(events).unwrap() {
            break files;
        }
        assert!(
            Instant::now() < deadline,
            "{events} events, files up to {newest}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };

    // One file per checkpoint in the database, each the same signed head,
    // in the documented format; no temporary file left.
    let stored =
        alertledger_sealed_log::all_checkpoints(&mut app.db.pool().acquire().await.unwrap())
            .await
            .unwrap();
    assert_eq!(files.len(), stored.len());
    for (file, stored) in files.iter().zip(&stored) {
        assert_eq!(file.signed, stored.signed);
        file.signed.verify(&[audit_signer().public_key()]).unwrap();
        let text = std::fs::read_to_string(&file.path).unwrap();
        let parsed: CheckpointFile = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed.format, FORMAT);
        assert_eq!(parsed.body, stored.signed.checkpoint.body());
        let json: Value = serde_json::from_str(&text).unwrap();
        for field in [
            "tree_size",
            "root_hash",
            "last_position",
            "time_us",
            "previous",
            "key_id",
            "signature",
            "public_key_pem",
        ] {
            assert!(!json[field].is_null(), "{field} in {text}");
        }
    }
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), files.len());

    let key = dir
        .join("..")
        .join(format!("{}.pub.pem", uuid::Uuid::new_v4()));
    std::fs::write(&key, audit_signer().public_key().to_pem().unwrap()).unwrap();
    let (ok, out) = audit_verify(&app, &key, Some(&dir));
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!("checkpoint files    {}", files.len())),
        "{out}"
    );

    let tampered_leaf: i64 =
        sqlx::query_scalar("SELECT leaf_index FROM audit_leaves WHERE position = $1")
            .bind(first.unwrap())
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    // The first file whose tree holds the rewritten event is the one named.
    let expected = files
        .iter()
        .find(|f| f.signed.checkpoint.tree_size > u64::try_from(tampered_leaf).unwrap())
        .unwrap();

    // The owner rewrites an event, wipes the seal and its checkpoints, and
    // the sealer reseals the rewritten history.
    let mut tx = app.db.pool().begin().await.unwrap();
    for statement in [
        "SELECT pg_advisory_xact_lock(1095516483, 0)".to_owned(),
        "ALTER TABLE events DISABLE TRIGGER USER".to_owned(),
        format!(
            "UPDATE events SET metadata = metadata || '{{\"forged\": true}}' WHERE position = {}",
            first.unwrap()
        ),
        "ALTER TABLE events ENABLE TRIGGER USER".to_owned(),
        "ALTER TABLE audit_leaves DISABLE TRIGGER USER".to_owned(),
        "ALTER TABLE audit_nodes DISABLE TRIGGER USER".to_owned(),
        "ALTER TABLE audit_checkpoints DISABLE TRIGGER USER".to_owned(),
        "DELETE FROM audit_leaves".to_owned(),
        "DELETE FROM audit_nodes".to_owned(),
        "DELETE FROM audit_checkpoints".to_owned(),
        "ALTER TABLE audit_leaves ENABLE TRIGGER USER".to_owned(),
        "ALTER TABLE audit_nodes ENABLE TRIGGER USER".to_owned(),
        "ALTER TABLE audit_checkpoints ENABLE TRIGGER USER".to_owned(),
        "DELETE FROM projector_checkpoints WHERE name = 'sealer'".to_owned(),
    ] {
        sqlx::raw_sql(&statement).execute(&mut *tx).await.unwrap();
    }
    tx.commit().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while count(&app, "SELECT count(*) FROM audit_leaves").await
        < count(&app, "SELECT count(*) FROM events").await
    {
        assert!(Instant::now() < deadline, "the sealer never resealed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The database alone now looks consistent: its leaves match its events
    // and no checkpoint contradicts them...
    let (ok, out) = audit_verify(&app, &key, None);
    assert!(ok, "{out}");
    // ...but the files outside it do not match the rebuilt tree, and the
    // report names the first file that differs.
    let (ok, out) = audit_verify(&app, &key, Some(&dir));
    assert!(!ok, "{out}");
    assert!(out.contains("checkpoint file mismatch"), "{out}");
    assert!(
        out.contains(&expected.path.display().to_string()),
        "names {}: {out}",
        expected.path.display()
    );

    std::fs::remove_file(&key).ok();
    std::fs::remove_dir_all(&dir).ok();
}
