//! Finding or starting the database: `DATABASE_URL` if set; otherwise
//! PostgreSQL on localhost:5432; otherwise an embedded PostgreSQL under the data
//! directory (also when forced with `--embedded-db`).

use std::time::Duration;

use alertledger_platform::embedded_postgres::{
    localhost_postgres_answers, EmbeddedPostgres, EmbeddedPostgresOptions,
};
use alertledger_schema::{database_name, ensure_database, with_database};
use anyhow::Context;

use crate::cli::DatabaseArgs;

/// A database ready to connect to, and the embedded server behind it, if any.
pub struct ProvisionedDatabase {
    pub url: String,
    embedded: Option<EmbeddedPostgres>,
}

impl ProvisionedDatabase {
    /// Finds or starts the database. Must run on the main thread's future: an
    /// embedded server is told to stop when the thread that started it dies.
    pub async fn provision(args: &DatabaseArgs) -> anyhow::Result<Self> {
        if !args.embedded_db {
            if let Some(url) = &args.database_url {
                create_if_missing(url).await;
                return Ok(Self {
                    url: url.clone(),
                    embedded: None,
                });
            }
            if localhost_postgres_answers(Duration::from_secs(2)).await {
                let server = "postgres://postgres@127.0.0.1:5432/postgres";
                tracing::info!("DATABASE_URL is unset; using PostgreSQL on localhost:5432");
                ensure_database(server, &args.database_name).await.context(
                    "PostgreSQL answers on localhost:5432 but refused user `postgres`; set DATABASE_URL",
                )?;
                return Ok(Self {
                    url: with_database(server, &args.database_name)?,
                    embedded: None,
                });
            }
            tracing::info!("DATABASE_URL is unset and nothing answers on localhost:5432");
        }
        tracing::warn!(data_dir = %args.data_dir.display(), "running an embedded PostgreSQL");
        let embedded = EmbeddedPostgres::start(EmbeddedPostgresOptions {
            data_dir: args.data_dir.clone(),
            bin_dir: args.pg_bin_dir.clone(),
            port: None,
        })
        .await
        .context("cannot start the embedded PostgreSQL")?;
        ensure_database(&embedded.database_url("postgres"), &args.database_name).await?;
        tracing::info!(
            port = embedded.port(), data_dir = %embedded.data_dir().display(),
            "embedded PostgreSQL is serving"
        );
        Ok(Self {
            url: embedded.database_url(&args.database_name),
            embedded: Some(embedded),
        })
    }

    /// Stops the embedded server, if one was started.
    pub async fn shut_down(self) {
        if let Some(embedded) = self.embedded {
            if let Err(error) = embedded.stop().await {
                tracing::error!(%error, "the embedded PostgreSQL did not stop cleanly");
            }
        }
    }
}

/// Creates the database a URL names when its server is reachable but the
/// database is not there yet; anything else surfaces at connect time.
async fn create_if_missing(url: &str) {
    let (Ok(Some(database)), Ok(server)) = (database_name(url), with_database(url, "postgres"))
    else {
        return;
    };
    if let Err(error) = ensure_database(&server, &database).await {
        tracing::debug!(%error, "could not make sure the database exists");
    }
}
