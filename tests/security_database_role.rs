//! H3, "the service cannot rewrite history" (issue 16, docs/threat-model.md):
//! connected as the service's own role (a member of `alertledger_service`
//! that owns nothing), the event log and the seal tables cannot be updated,
//! deleted, truncated or have their append-only triggers disabled; the
//! application still ingests, projects and seals as that role; and
//! production-mode `serve` refuses to start as a superuser.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use alertledger_domain::values::Role;
use alertledger_schema::TestDatabase;
use serde_json::Value;
use support::process::{alertledger, ServiceProcess};
use support::{audit_signer, generic_alert, service_role_pool, TestApp, TEST_SERVICE_ROLE};

const APPEND_ONLY: [&str; 4] = ["events", "audit_leaves", "audit_nodes", "audit_checkpoints"];

/// Runs `sql` and returns its SQLSTATE, or `None` if it succeeded.
async fn sqlstate(pool: &sqlx::PgPool, sql: &str) -> Option<String> {
    match sqlx::raw_sql(sql).execute(pool).await {
        Ok(_) => None,
        Err(error) => Some(
            error
                .as_database_error()
                .and_then(|e| e.code())
                .map(|code| code.into_owned())
                .unwrap_or_else(|| format!("not a database error: {error}")),
        ),
    }
}

#[tokio::test]
async fn the_service_role_cannot_rewrite_the_log_or_the_seal() {
    // Some history to attack: an event, sealed and checkpointed.
    let app = TestApp::spawn_as_service_role().await;
    let tenant = app.create_tenant("acme").await;
    let response = app.post_alert(&tenant, &generic_alert("web01")).await;
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    let position = body["alerts"][0]["position"].as_i64().unwrap();
    let token = app.token(Role::Viewer, &[tenant.id]);
    app.get_when_sealed(&format!("/api/v1/audit/proof?position={position}"), &token)
        .await;

    let service = service_role_pool(&app.db).await;
    let who: (String, bool) = sqlx::query_as(
        "SELECT current_user::text, rolsuper FROM pg_roles WHERE rolname = current_user",
    )
    .fetch_one(&service)
    .await
    .unwrap();
    assert_eq!(who, (TEST_SERVICE_ROLE.to_owned(), false));
    let owns: bool = sqlx::query_scalar(
        "SELECT pg_has_role(current_user, relowner, 'MEMBER') FROM pg_class WHERE oid = 'events'::regclass",
    )
    .fetch_one(&service)
    .await
    .unwrap();
    assert!(!owns, "the service role must not own the events table");

    for table in APPEND_ONLY {
        let rows: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&service)
            .await
            .unwrap();
        // audit_nodes holds subtrees of 256 leaves and more: empty here, but
        // the privilege checks come first all the same.
        if table != "audit_nodes" {
            assert!(rows > 0, "{table} has something to attack");
        }
        for attack in [
            format!("ALTER TABLE {table} DISABLE TRIGGER ALL"),
            format!("ALTER TABLE {table} DISABLE TRIGGER USER"),
            format!("UPDATE {table} SET {} ", first_column_assignment(table)),
            format!("DELETE FROM {table}"),
            format!("TRUNCATE {table}"),
            format!("DROP TABLE {table}"),
            format!("ALTER TABLE {table} OWNER TO {TEST_SERVICE_ROLE}"),
            format!("ALTER TABLE {table} RENAME TO {table}_old"),
            // Swapping a look-alike table in: no CREATE on schema public.
            format!("CREATE TABLE public.{table}_copy (LIKE {table})"),
        ] {
            assert_eq!(
                sqlstate(&service, &attack).await.as_deref(),
                Some("42501"),
                "the service role ran `{attack}`"
            );
        }
        let rows_after: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(app.db.pool())
            .await
            .unwrap();
        assert_eq!(rows_after, rows, "{table} is unchanged");
    }
    // Nor can it drop the triggers, replace the function they call, or
    // grant itself more.
    for attack in [
        "DROP TRIGGER events_no_update_or_delete ON events",
        "CREATE OR REPLACE FUNCTION events_reject_rewrite() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$",
        "SELECT alertledger_grant_service_privileges()",
        // No schemas of its own either (migration 0038 revoked CREATE).
        "CREATE SCHEMA service_owned",
    ] {
        let state = sqlstate(&service, attack).await;
        assert_eq!(state.as_deref(), Some("42501"), "the service role ran `{attack}`");
    }
    // A GRANT by a role without the grant option only warns ("no privileges
    // were granted"): what counts is that nothing was granted.
    let _ = sqlstate(
        &service,
        "GRANT UPDATE, DELETE, TRUNCATE ON events TO alertledger_service",
    )
    .await;
    let can_update: bool = sqlx::query_scalar(
        "SELECT has_table_privilege('alertledger_service', 'events', 'UPDATE')
                 OR has_table_privilege('alertledger_service', 'events', 'DELETE')
                 OR has_table_privilege('alertledger_service', 'events', 'TRUNCATE')",
    )
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    assert!(!can_update);
    // Re-applying the grants after migrations does not grant CREATE again.
    sqlx::query("SELECT alertledger_grant_service_privileges()")
        .execute(app.db.pool())
        .await
        .unwrap();
    let can_create: bool = sqlx::query_scalar(
        "SELECT has_database_privilege('alertledger_service', current_database(), 'CREATE')",
    )
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    assert!(!can_create, "the service role may create schemas");
}

/// `col = col` for a column of `table`, so the UPDATE would change nothing
/// if it ran: the permission check is what stops it.
fn first_column_assignment(table: &str) -> &'static str {
    match table {
        "events" => "event_type = event_type",
        "audit_leaves" => "position = position",
        "audit_nodes" => "hash = hash",
        _ => "key_id = key_id",
    }
}

#[tokio::test]
async fn the_application_serves_as_the_service_role() {
    let app = TestApp::spawn_as_service_role().await;
    let tenant = app.create_tenant("acme").await;
    let response = app.post_alert(&tenant, &generic_alert("web01")).await;
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    let position = body["alerts"][0]["position"].as_i64().unwrap();
    let token = app.token(Role::Viewer, &[tenant.id]);
    // Projected into the read models...
    let alerts = app
        .get_until("/api/v1/alerts", &token, |body| {
            body["items"]
                .as_array()
                .is_some_and(|items| !items.is_empty())
        })
        .await;
    assert_eq!(alerts["items"][0]["asset"], "web01");
    // ...sealed and checkpointed by the key the service signs with.
    let proof = app
        .get_when_sealed(&format!("/api/v1/audit/proof?position={position}"), &token)
        .await;
    let checkpoint: alertledger_seal::SignedCheckpoint =
        serde_json::from_value(proof["checkpoint"].clone()).unwrap();
    checkpoint.verify(&[audit_signer().public_key()]).unwrap();
    // And ready.
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    // The sessions doing that work were the service role's.
    let roles: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT usename::text FROM pg_stat_activity
          WHERE datname = current_database() AND application_name = 'alertledger'",
    )
    .fetch_all(app.db.pool())
    .await
    .unwrap();
    assert!(
        roles.contains(&TEST_SERVICE_ROLE.to_owned()),
        "sessions of {roles:?}"
    );
}

/// The environment production mode needs besides a database.
fn production_env(dir: &std::path::Path) -> Vec<(String, String)> {
    let key = dir.join("signing.pem");
    std::fs::write(&key, audit_signer().to_pem().unwrap()).unwrap();
    vec![
        ("ALERTLEDGER_ENV".into(), "production".into()),
        (
            "ALERTLEDGER_JWT_SECRET".into(),
            "a-production-test-secret-of-32-bytes!!".into(),
        ),
        (
            "ALERTLEDGER_MASTER_KEY".into(),
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".into(),
        ),
        (
            "ALERTLEDGER_SIGNING_KEY".into(),
            key.to_string_lossy().into_owned(),
        ),
    ]
}

fn scratch_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("alertledger-h3-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn production_serve_refuses_a_superuser_and_starts_as_the_service_role() {
    let db = TestDatabase::create().await;
    let dir = scratch_dir();
    let env = production_env(&dir);

    // As `postgres`, a superuser: refused, with a message that says why.
    let mut command = alertledger();
    command
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("DATABASE_URL", db.url())
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("production serve kept running as a superuser");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success());
    assert!(
        stderr.contains("refusing to serve as PostgreSQL role `postgres`")
            && stderr.contains("superuser")
            && stderr.contains("--service-role"),
        "{stderr}"
    );

    // `migrate --service-role` as the owner, then serve as that role: ready.
    let migrate = alertledger()
        .args(["migrate", "--service-role", TEST_SERVICE_ROLE])
        .env("DATABASE_URL", db.url())
        .output()
        .unwrap();
    assert!(
        migrate.status.success(),
        "{}",
        String::from_utf8_lossy(&migrate.stderr)
    );
    let mut service_url = reqwest::Url::parse(db.url()).unwrap();
    service_url.set_username(TEST_SERVICE_ROLE).unwrap();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let service = ServiceProcess::serve(service_url.as_str(), &env);
    let ready = reqwest::get(service.url("/readyz")).await.unwrap();
    assert_eq!(ready.status(), 200);
    drop(service);
    std::fs::remove_dir_all(&dir).ok();
}
