//! Configuration as operators write it (docs/configuration.md): the TOML file
//! under the environment and flags, and `*_FILE` secrets, on the real binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::PathBuf;

use alertledger_schema::TestDatabase;
use alertledger_seal::CheckpointSigner;
use support::process::{alertledger, ServiceProcess};

/// A scratch directory of the test's own.
fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("alertledger-config-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn a_config_file_with_file_secrets_starts_the_service_in_production() {
    let db = TestDatabase::create().await;
    let dir = scratch();
    // Secrets as Kubernetes mounts them: one file each, trailing newline.
    // Production refuses the owner: the service connects as a login role of
    // the `alertledger_service` group (created here as the owner would).
    alertledger_schema::roles::ensure_service_login(db.pool(), support::TEST_SERVICE_ROLE, None)
        .await
        .unwrap();
    let service_url =
        db.url()
            .replacen("postgres@", &format!("{}@", support::TEST_SERVICE_ROLE), 1);
    assert_ne!(
        service_url,
        db.url(),
        "the test database URL names its user"
    );
    std::fs::write(dir.join("database_url"), format!("{service_url}\n")).unwrap();
    std::fs::write(
        dir.join("jwt_secret"),
        "a-jwt-secret-of-at-least-32-bytes-long\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("master_key"),
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
    )
    .unwrap();
    let signer = CheckpointSigner::from_seed([7; 32]);
    std::fs::write(
        dir.join("signing_key.pem"),
        signer.to_pem().unwrap().as_bytes(),
    )
    .unwrap();
    let config = dir.join("alertledger.toml");
    std::fs::write(
        &config,
        format!(
            r#"# Production refuses to start without each of these secrets.
env = "production"
log_format = "json"
# Not a usable address: the --listen flag must outrank it.
listen = "not-an-address"
database_url_file = "{dir}/database_url"
jwt_secret_file = "{dir}/jwt_secret"
master_key_file = "{dir}/master_key"
signing_key_file = "{dir}/signing_key.pem"
feed_heartbeat_secs = 0
"#,
            dir = dir.display()
        ),
    )
    .unwrap();

    let mut command = alertledger();
    command
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("ALERTLEDGER_CONFIG", &config)
        // The environment outranks the file's unusable heartbeat.
        .env("ALERTLEDGER_FEED_HEARTBEAT_SECS", "5")
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "info");
    let service = ServiceProcess::start(command);

    let client = reqwest::Client::new();
    let ready = client.get(service.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    // The checkpoint key is the one the file named.
    let key: serde_json::Value = client
        .get(service.url("/api/v1/audit/public-key"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(key["key_id"], signer.public_key().key_id());
    // And the database is the one DATABASE_URL_FILE named.
    let sessions: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind(db.name())
    .fetch_one(db.pool())
    .await
    .unwrap();
    assert!(
        sessions > 0,
        "the service holds no connection to the test database"
    );
}

#[test]
fn a_secret_set_twice_is_refused_naming_both() {
    let dir = scratch();
    std::fs::write(
        dir.join("key"),
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
    )
    .unwrap();
    let output = alertledger()
        .args(["migrate"])
        .env(
            "ALERTLEDGER_MASTER_KEY",
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        )
        .env("ALERTLEDGER_MASTER_KEY_FILE", dir.join("key"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("ALERTLEDGER_MASTER_KEY and ALERTLEDGER_MASTER_KEY_FILE"),
        "{stderr}"
    );
}

#[test]
fn a_typo_in_the_config_file_is_refused_by_name() {
    let dir = scratch();
    let config = dir.join("alertledger.toml");
    std::fs::write(&config, "lsiten = \"127.0.0.1:0\"\n").unwrap();
    let output = alertledger()
        .args(["--config", config.to_str().unwrap(), "migrate"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unknown setting `lsiten`"), "{stderr}");
}
