//! `alertledger tenant create|api-key|secret`: tenant administration from the command
//! line, straight against the database (for bootstrapping, before anyone holds
//! a token). Every change is recorded with the actor `cli:<operator>`.

use alertledger_api::auth::signing::{MasterKey, WebhookSecretCipher, WebhookSecretStore};
use alertledger_api::tenant_admin;
use alertledger_domain::tenant::Tenant;
use alertledger_domain::values::{
    Actor, ApiKeyLabel, Role, TenantId, TenantName, TenantSlug, UserId,
};
use alertledger_domain::DomainServices;
use alertledger_eventstore::log::LogSignal;
use alertledger_eventstore::store::{AggregateStore, EventMetadata};
use anyhow::Context;

use crate::cli::{GlobalArgs, TenantArgs, TenantCommand};
use crate::database::ProvisionedDatabase;

pub async fn run(global: &GlobalArgs, args: TenantArgs) -> anyhow::Result<()> {
    let database = ProvisionedDatabase::provision(&args.database).await?;
    let result = async {
        let pool = database.connect_tool().await?;
        let tenants: AggregateStore<Tenant> = AggregateStore::new(
            pool.clone(),
            DomainServices::system(),
            LogSignal::start(pool.clone()),
        );
        let operator = std::env::var("USER").unwrap_or_else(|_| "operator".to_owned());
        let metadata = EventMetadata::by(format!("cli:{operator}"));
        let actor = Actor::new(
            UserId::parse(&format!("cli:{operator}"))?,
            operator.clone(),
            Role::MspAdmin,
        );
        let output = match args.command {
            TenantCommand::Create { name, slug } => {
                let tenant_id = TenantId::new_v7();
                let (name, slug) = (TenantName::parse(&name)?, TenantSlug::parse(&slug)?);
                tenant_admin::create_tenant(&pool, &tenants, tenant_id, name, slug, metadata)
                    .await?;
                vec![tenant_id.to_string()]
            }
            TenantCommand::ApiKey { tenant, label } => {
                let tenant_id =
                    TenantId::parse(&tenant).with_context(|| format!("--tenant {tenant:?}"))?;
                let label = label.as_deref().map(ApiKeyLabel::parse).transpose()?;
                let (key_id, key) =
                    tenant_admin::issue_api_key(&tenants, tenant_id, label, actor, metadata)
                        .await?;
                vec![
                    format!("key id: {key_id} (the key is shown once; store it now)"),
                    key,
                ]
            }
            TenantCommand::Secret { tenant } => {
                let tenant_id =
                    TenantId::parse(&tenant).with_context(|| format!("--tenant {tenant:?}"))?;
                let Some(encoded) = global.master_key.as_deref().filter(|k| !k.is_empty()) else {
                    anyhow::bail!(
                        "set ALERTLEDGER_MASTER_KEY (the service's key) to store a webhook secret"
                    );
                };
                let master_key = MasterKey::from_base64(encoded).map_err(|e| {
                    anyhow::anyhow!("ALERTLEDGER_MASTER_KEY must be base64 of 32 bytes: {e}")
                })?;
                let store =
                    WebhookSecretStore::new(pool.clone(), WebhookSecretCipher::new(&master_key));
                let (secret_id, secret) =
                    tenant_admin::add_webhook_secret(&store, &tenants, tenant_id, actor, metadata)
                        .await?;
                vec![
                    format!("secret id: {secret_id} (the secret is shown once; store it now)"),
                    secret,
                ]
            }
        };
        pool.close().await;
        anyhow::Ok(output)
    }
    .await;
    database.shut_down().await;
    // The value a script wants stands alone on the last line of stdout.
    #[allow(clippy::print_stdout)]
    for line in result? {
        println!("{line}");
    }
    Ok(())
}
