//! `alertledger migrate`: apply migrations and exit.

use alertledger_schema::{connect, migrate, PoolSettings};

use crate::cli::{DatabaseArgs, GlobalArgs};
use crate::database::ProvisionedDatabase;

pub async fn run(_global: &GlobalArgs, args: DatabaseArgs) -> anyhow::Result<()> {
    let database = ProvisionedDatabase::provision(&args).await?;
    let result = async {
        let pool = connect(&database.url, &PoolSettings::default()).await?;
        migrate(&pool).await?;
        pool.close().await;
        tracing::info!("migrations applied");
        anyhow::Ok(())
    }
    .await;
    database.shut_down().await;
    result
}
