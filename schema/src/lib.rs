//! The database layer every other crate shares: SQL migrations (in `migrations/`,
//! append-only files), the migrator, connection pool set-up, and a throw-away
//! database for tests.
//!
//! # Layout
//!
//! - [`connect`] opens a pool whose sessions cannot sit idle inside a
//!   transaction for long: an open transaction holds the global log's horizon
//!   back for every reader.
//! - [`migrate`] applies [`MIGRATOR`] (safe to run from several processes at once;
//!   sqlx serialises them with an advisory lock).
//! - [`roles`] the two database roles: the owner that migrates, the
//!   service's login role that may only append to history.
//! - [`ensure_database`] creates the service's database on a bare server.
//! - [`TestDatabase`] gives each test a fresh database and drops it afterwards.

pub mod roles;
mod test_database;

use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool};

pub use test_database::TestDatabase;

/// Every migration of the service, embedded in the binary.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// Why the database could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("invalid database URL: {0}")]
    InvalidUrl(#[source] sqlx::Error),
    #[error("cannot connect to PostgreSQL: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("cannot create database {name}: {source}")]
    CreateDatabase {
        name: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("cannot grant the service role its privileges: {0}")]
    Grant(#[source] sqlx::Error),
}

/// Pool settings; the defaults suit one service process.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
    /// Ends sessions idle inside a transaction, which would stall every log reader.
    pub idle_in_transaction_timeout: Duration,
    pub application_name: String,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: 20,
            acquire_timeout: Duration::from_secs(10),
            idle_in_transaction_timeout: Duration::from_secs(30),
            application_name: "alertledger".to_owned(),
        }
    }
}

/// Parses `url` and applies the session settings the service relies on.
pub fn connect_options(
    url: &str,
    settings: &PoolSettings,
) -> Result<PgConnectOptions, SchemaError> {
    let timeout_ms = settings.idle_in_transaction_timeout.as_millis().to_string();
    Ok(PgConnectOptions::from_str(url)
        .map_err(SchemaError::InvalidUrl)?
        .application_name(&settings.application_name)
        .options([("idle_in_transaction_session_timeout", timeout_ms.as_str())])
        .log_statements(tracing::log::LevelFilter::Trace))
}

/// Opens a pool to `url` (connecting eagerly, so a wrong URL fails at start-up).
pub async fn connect(url: &str, settings: &PoolSettings) -> Result<PgPool, SchemaError> {
    let options = connect_options(url, settings)?;
    PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(settings.acquire_timeout)
        .connect_with(options)
        .await
        .map_err(SchemaError::Connect)
}

/// Opens a pool to the database of `url` as role `user` (with `password`,
/// if any) instead of the URL's own user: the zero-set-up modes serve as the
/// service role on the server they set up as its owner.
pub async fn connect_as(
    url: &str,
    user: &str,
    password: Option<&str>,
    settings: &PoolSettings,
) -> Result<PgPool, SchemaError> {
    let mut options = connect_options(url, settings)?.username(user);
    if let Some(password) = password {
        options = options.password(password);
    }
    PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(settings.acquire_timeout)
        .connect_with(options)
        .await
        .map_err(SchemaError::Connect)
}

/// Applies every pending migration, then (re)grants the service role its
/// privileges on every table, so tables of any migration are covered
/// ([`roles`]). Must run as the owner of the schema.
pub async fn migrate(pool: &PgPool) -> Result<(), SchemaError> {
    MIGRATOR.run(pool).await?;
    roles::grant_service_privileges(pool)
        .await
        .map_err(SchemaError::Grant)?;
    Ok(())
}

/// Whether every migration this binary knows is applied (what a role that
/// cannot migrate, such as the service's, checks instead of migrating).
pub async fn migrations_applied(pool: &PgPool) -> Result<bool, sqlx::Error> {
    let table: Option<String> =
        sqlx::query_scalar("SELECT to_regclass('public._sqlx_migrations')::text")
            .fetch_one(pool)
            .await?;
    if table.is_none() {
        return Ok(false);
    }
    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
            .fetch_all(pool)
            .await?;
    Ok(MIGRATOR
        .iter()
        .filter(|migration| !migration.migration_type.is_down_migration())
        .all(|migration| applied.contains(&migration.version)))
}

/// Creates database `name` on the server of `server_url` unless it exists.
///
/// `server_url` must name a database that exists (usually `postgres`).
pub async fn ensure_database(server_url: &str, name: &str) -> Result<(), SchemaError> {
    let options = PgConnectOptions::from_str(server_url).map_err(SchemaError::InvalidUrl)?;
    let mut conn = sqlx::PgConnection::connect_with(&options)
        .await
        .map_err(SchemaError::Connect)?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(name)
            .fetch_one(&mut conn)
            .await
            .map_err(SchemaError::Connect)?;
    if !exists {
        let created = sqlx::query(&format!("CREATE DATABASE {}", quote_identifier(name)))
            .execute(&mut conn)
            .await;
        // Another process may have created it between our check and our CREATE.
        if let Err(error) = created {
            let duplicate = error
                .as_database_error()
                .and_then(|e| e.code())
                .is_some_and(|code| code == "42P04");
            if !duplicate {
                return Err(SchemaError::CreateDatabase {
                    name: name.to_owned(),
                    source: error,
                });
            }
        }
        tracing::info!(database = name, "created database");
    }
    conn.close().await.ok();
    Ok(())
}

/// Quotes a PostgreSQL identifier (doubling embedded quotes).
pub fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The database a URL names, if it names one.
pub fn database_name(url: &str) -> Result<Option<String>, SchemaError> {
    let options = PgConnectOptions::from_str(url).map_err(SchemaError::InvalidUrl)?;
    Ok(options.get_database().map(str::to_owned))
}

/// `url` with its database name replaced by `database` (query parameters kept).
pub fn with_database(url: &str, database: &str) -> Result<String, SchemaError> {
    PgConnectOptions::from_str(url).map_err(SchemaError::InvalidUrl)?;
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("//").map_or(0, |i| i + 2);
    let without_database = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    Ok(match query {
        Some(query) => format!("{without_database}/{database}?{query}"),
        None => format!("{without_database}/{database}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_database_replaces_or_adds_the_database_name() {
        let cases = [
            (
                "postgres://postgres@127.0.0.1:5432/postgres",
                "postgres://postgres@127.0.0.1:5432/x",
            ),
            (
                "postgres://postgres@127.0.0.1:5432",
                "postgres://postgres@127.0.0.1:5432/x",
            ),
            (
                "postgres://u:p@h/db?sslmode=disable",
                "postgres://u:p@h/x?sslmode=disable",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(
                with_database(input, "x").ok().as_deref(),
                Some(expected),
                "{input}"
            );
        }
    }

    #[test]
    fn identifiers_are_quoted_with_embedded_quotes_doubled() {
        assert_eq!(quote_identifier(r#"a"b"#), r#""a""b""#);
    }
}
