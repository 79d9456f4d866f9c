//! A fresh, migrated database per test, dropped when the test is done.

use sqlx::PgPool;

use crate::{connect, ensure_database, migrate, quote_identifier, with_database, PoolSettings};

/// The server tests use unless `DATABASE_URL` says otherwise.
const DEFAULT_SERVER_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A uniquely named database, migrated, dropped (with its connections) on `Drop`.
///
/// Tests never share a database, so they can run in parallel and assert exact
/// contents.
pub struct TestDatabase {
    name: String,
    server_url: String,
    url: String,
    pool: PgPool,
}

impl TestDatabase {
    /// Creates and migrates a new database on the `DATABASE_URL` server.
    ///
    /// Panics when PostgreSQL is unreachable: a test cannot run without it.
    #[allow(clippy::expect_used)]
    pub async fn create() -> Self {
        let server_url =
            std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_SERVER_URL.to_owned());
        let name = format!("alertledger_test_{}", uuid::Uuid::new_v4().simple());
        ensure_database(&server_url, &name)
            .await
            .expect("create the test database (is PostgreSQL running at DATABASE_URL?)");
        let url = with_database(&server_url, &name).expect("test database URL");
        let pool = connect(&url, &PoolSettings::default())
            .await
            .expect("connect to the test database");
        migrate(&pool).await.expect("migrate the test database");
        Self {
            name,
            server_url,
            url,
            pool,
        }
    }

    /// A pool on the test database.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The test database's URL, for code that opens its own connections.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The test database's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let server_url = self.server_url.clone();
        let name = self.name.clone();
        // Drop is synchronous and may run inside the test's runtime, so the async
        // clean-up gets a thread and runtime of its own. The pool's connections
        // belong to the test's runtime; `WITH (FORCE)` ends them server-side.
        let cleanup = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                if let Ok(admin) = sqlx::PgPool::connect(&server_url).await {
                    let drop = format!(
                        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                        quote_identifier(&name)
                    );
                    if let Err(error) = sqlx::query(&drop).execute(&admin).await {
                        tracing::warn!(%error, database = %name, "could not drop test database");
                    }
                    admin.close().await;
                }
            });
        });
        let _ = cleanup.join();
    }
}
