//! Finding or starting the database: `DATABASE_URL` if set; otherwise
//! PostgreSQL on localhost:5432; otherwise an embedded PostgreSQL under the data
//! directory (also when forced with `--embedded-db`). And which role connects:
//! `DATABASE_URL` is the service's role, `ALERTLEDGER_OWNER_DATABASE_URL` (if
//! set) the owner's, which migrates; the zero-set-up modes are the owner of
//! the server they found or started and set up the service role themselves
//! (`alertledger_schema::roles`).

use std::time::Duration;

use alertledger_platform::config::Environment;
use alertledger_platform::embedded_postgres::{
    localhost_postgres_answers, EmbeddedPostgres, EmbeddedPostgresOptions,
};
use alertledger_schema::roles::{self, DEFAULT_SERVICE_ROLE};
use alertledger_schema::{
    connect, connect_as, database_name, ensure_database, migrate, migrations_applied,
    with_database, PoolSettings,
};
use anyhow::{bail, Context};
use sqlx::PgPool;

use crate::cli::DatabaseArgs;

/// A database ready to connect to, and the embedded server behind it, if any.
pub struct ProvisionedDatabase {
    /// `DATABASE_URL`, or the owner's URL on a server the zero set-up found.
    pub url: String,
    /// `ALERTLEDGER_OWNER_DATABASE_URL`, when set.
    pub owner_url: Option<String>,
    /// No `DATABASE_URL`: `url` is the owner of a server found on localhost or
    /// embedded, and `serve` sets up and connects as the service role.
    pub zero_setup: bool,
    embedded: Option<EmbeddedPostgres>,
}

impl ProvisionedDatabase {
    /// Finds or starts the database. Must run on the main thread's future: an
    /// embedded server is told to stop when the thread that started it dies.
    pub async fn provision(args: &DatabaseArgs) -> anyhow::Result<Self> {
        if !args.embedded_db {
            if let Some(url) = &args.database_url {
                let owner_url = args
                    .owner_database_url
                    .clone()
                    .filter(|url| !url.is_empty());
                create_if_missing(owner_url.as_deref().unwrap_or(url)).await;
                return Ok(Self {
                    url: url.clone(),
                    owner_url,
                    zero_setup: false,
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
                    owner_url: None,
                    zero_setup: true,
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
            owner_url: None,
            zero_setup: true,
            embedded: Some(embedded),
        })
    }

    /// The URL that may change the schema: the owner's if configured, else
    /// `DATABASE_URL` (`migrate` and `projections rebuild` run with it).
    pub fn admin_url(&self) -> &str {
        self.owner_url.as_deref().unwrap_or(&self.url)
    }

    /// A pool for the command-line tools on [`Self::admin_url`], with every
    /// migration applied (by this role when some are pending).
    pub async fn connect_tool(&self) -> anyhow::Result<PgPool> {
        let pool = connect(self.admin_url(), &PoolSettings::default()).await?;
        ensure_migrated(&pool).await?;
        Ok(pool)
    }

    /// The service's pool: in the zero-set-up modes, migrates as the owner,
    /// creates the service login role and connects as it; otherwise migrates
    /// with the owner's URL if one is configured and connects with
    /// `DATABASE_URL`. In production it refuses a role that could rewrite
    /// history (a superuser, or the owner of `events`); in development it
    /// warns.
    pub async fn connect_service(&self, environment: Environment) -> anyhow::Result<PgPool> {
        let pool = if self.zero_setup {
            let owner = connect(&self.url, &PoolSettings::default()).await?;
            migrate(&owner)
                .await
                .context("cannot migrate the database")?;
            let pool = zero_setup_service_pool(&owner, &self.url).await;
            owner.close().await;
            pool?
        } else {
            if let Some(owner_url) = &self.owner_url {
                let owner = connect(owner_url, &PoolSettings::default()).await?;
                migrate(&owner)
                    .await
                    .context("cannot migrate the database as ALERTLEDGER_OWNER_DATABASE_URL")?;
                owner.close().await;
            }
            let pool = connect(&self.url, &PoolSettings::default()).await?;
            ensure_migrated(&pool).await?;
            pool
        };
        let identity = roles::identity(&pool).await?;
        if identity.can_rewrite_history() {
            let why = if identity.superuser {
                "is a superuser"
            } else {
                "owns the events table"
            };
            if environment.is_production() {
                bail!(
                    "refusing to serve as PostgreSQL role `{}`: it {why}, so the service's own \
                     credentials could rewrite the event log. Create the service role with \
                     `alertledger migrate --service-role NAME` (run with the owner's DATABASE_URL) \
                     and point DATABASE_URL at that role",
                    identity.user
                );
            }
            tracing::warn!(
                role = %identity.user,
                "SERVING AS A ROLE THAT {}: its credentials could rewrite the event log. In \
                 production DATABASE_URL must name the service role (`alertledger migrate \
                 --service-role NAME`); production mode refuses to start like this.",
                why.to_uppercase()
            );
        } else {
            tracing::info!(role = %identity.user, "connected as the service role");
        }
        Ok(pool)
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

/// Applies pending migrations when this role can; a role that cannot (the
/// service's) gets a clear error instead of a permission failure midway.
pub async fn ensure_migrated(pool: &PgPool) -> anyhow::Result<()> {
    if migrations_applied(pool).await? {
        return Ok(());
    }
    let identity = roles::identity(pool).await?;
    let owner_or_super = identity.can_rewrite_history();
    let unmigrated =
        sqlx::query_scalar::<_, Option<String>>("SELECT to_regclass('public.events')::text")
            .fetch_one(pool)
            .await?
            .is_none();
    if !owner_or_super && !unmigrated {
        bail!(
            "database migrations are pending and role `{}` (the service's) may not apply them: \
             run `alertledger migrate` with the owner's DATABASE_URL, or set \
             ALERTLEDGER_OWNER_DATABASE_URL",
            identity.user
        );
    }
    migrate(pool).await.context("cannot migrate the database")?;
    Ok(())
}

/// Sets up [`DEFAULT_SERVICE_ROLE`] on a server the zero set-up owns and
/// connects as it: without a password when the server lets it in (an
/// embedded server trusts local connections), else with a fresh random one
/// (known only to this process).
async fn zero_setup_service_pool(owner: &PgPool, url: &str) -> anyhow::Result<PgPool> {
    roles::ensure_service_login(owner, DEFAULT_SERVICE_ROLE, None)
        .await
        .context("cannot create the service role")?;
    let settings = PoolSettings::default();
    match connect_as(url, DEFAULT_SERVICE_ROLE, None, &settings).await {
        Ok(pool) => return Ok(pool),
        Err(error) => tracing::debug!(%error, "the service role needs a password"),
    }
    let mut bytes = [0_u8; 24];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    let password = hex_string(&bytes);
    roles::ensure_service_login(owner, DEFAULT_SERVICE_ROLE, Some(&password))
        .await
        .context("cannot set the service role's password")?;
    connect_as(url, DEFAULT_SERVICE_ROLE, Some(&password), &settings)
        .await
        .with_context(|| format!("cannot connect as the service role {DEFAULT_SERVICE_ROLE}"))
}

fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
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
