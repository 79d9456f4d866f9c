//! `alertledger migrate [--service-role NAME]`: apply migrations as the
//! owner (and grant the service group its privileges), then create or update
//! the service's login role, and exit.

use alertledger_schema::roles::ensure_service_login;
use alertledger_schema::{connect, migrate, PoolSettings};
use anyhow::Context;

use crate::cli::{GlobalArgs, MigrateArgs};
use crate::database::ProvisionedDatabase;

pub async fn run(_global: &GlobalArgs, args: MigrateArgs) -> anyhow::Result<()> {
    let database = ProvisionedDatabase::provision(&args.database).await?;
    let result = async {
        let pool = connect(database.admin_url(), &PoolSettings::default()).await?;
        migrate(&pool).await?;
        tracing::info!("migrations applied");
        if let Some(role) = args.service_role.as_deref().filter(|r| !r.is_empty()) {
            let password = args
                .service_role_password
                .as_deref()
                .filter(|p| !p.is_empty());
            ensure_service_login(&pool, role, password)
                .await
                .with_context(|| {
                    format!("cannot create the service role {role:?} (the owner needs CREATEROLE)")
                })?;
            tracing::info!(
                role,
                password_set = password.is_some(),
                "service role ready: point serve's DATABASE_URL at it"
            );
        }
        pool.close().await;
        anyhow::Ok(())
    }
    .await;
    database.shut_down().await;
    result
}
