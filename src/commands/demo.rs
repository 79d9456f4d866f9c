//! `alertledger demo`: the service plus a demo tenant, a token per role, an API
//! key, and a steady stream of synthetic alerts across several assets,
//! signatures and tools, so a newcomer sees data arrive.

use std::time::Duration;

use alertledger_api::auth::jwt::{TokenIssuer, TokenRequest};
use alertledger_api::ingest::{parse_generic, AlertIngestor, Delivery};
use alertledger_api::people::directory::{self, NewUser};
use alertledger_api::people::secret_token;
use alertledger_api::tenant_admin;
use alertledger_domain::tenant::{Tenant, TenantCommand};
use alertledger_domain::values::{
    Actor, ApiKeyId, ApiKeyLabel, AssetName, InstanceId, Role, TenantId, TenantName, TenantSlug,
    UserId, WebhookSource,
};
use alertledger_eventstore::store::{AggregateStore, EventMetadata};
use anyhow::Context;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

use crate::cli::{DemoArgs, GlobalArgs};
use crate::commands::serve;
use crate::database::ProvisionedDatabase;
use crate::security::{checkpoint_signer, jwt_setup, master_key, with_private_key};
use crate::shutdown;
use crate::startup::Application;

/// The demo tenant's id is fixed, so restarts find the same tenant.
const DEMO_TENANT: uuid::Uuid = uuid::uuid!("0195d1a0-0000-7000-8000-00000000de30");

/// (asset, critical, instance id) of the demo inventory.
const ASSETS: [(&str, bool, &str); 4] = [
    ("web01", false, "i-0a1b2c3d4e5f60001"),
    ("web02", false, "i-0a1b2c3d4e5f60002"),
    ("db01", true, "i-0a1b2c3d4e5f60003"),
    ("cache01", false, "i-0a1b2c3d4e5f60004"),
];

/// (asset, signature, tool, message) the synthetic stream draws from.
const PROBLEMS: [(&str, &str, &str, &str); 7] = [
    (
        "web01",
        "HighCPU",
        "prometheus",
        "CPU above 95% for 5 minutes",
    ),
    (
        "web02",
        "HighCPU",
        "prometheus",
        "CPU above 85% for 5 minutes",
    ),
    (
        "web01",
        "HTTP5xxRate",
        "grafana",
        "5xx responses above 2% of traffic",
    ),
    (
        "db01",
        "DiskFull",
        "zabbix",
        "/var/lib/postgresql above 92% full",
    ),
    (
        "db01",
        "ReplicationLag",
        "datadog",
        "replica lag above 30 s",
    ),
    (
        "cache01",
        "MemoryPressure",
        "cloudwatch",
        "memory utilisation above 90%",
    ),
    (
        "legacy-ftp",
        "ServiceDown",
        "nagios",
        "ftp check failed (asset not in inventory)",
    ),
];

pub async fn run(global: &GlobalArgs, args: DemoArgs) -> anyhow::Result<()> {
    let jwt = with_private_key(
        global,
        jwt_setup(global)?,
        args.serve.jwt_private_key.as_deref(),
    )?;
    let issuer = jwt.issuer.clone().context(
        "the demo signs its users' tokens, so it needs ALERTLEDGER_JWT_SECRET (not a public key)",
    )?;
    let database = ProvisionedDatabase::provision(&args.serve.database).await?;
    let result = async {
        let config = serve::app_config(
            &args.serve,
            &jwt,
            master_key(global)?,
            checkpoint_signer(global)?,
        )
        .await?;
        let app = serve::build(&database, global.environment, config).await?;
        let tenant_id = TenantId::from_uuid(DEMO_TENANT);
        let tenants = AggregateStore::<Tenant>::new(
            app.pool().clone(),
            app.state().services().clone(),
            app.signal().clone(),
        );
        let (key_id, api_key) = prepare_tenant(app.pool(), &tenants, tenant_id).await?;
        let users = prepare_users(&app, tenant_id).await?;
        print_welcome(&app, &issuer, tenant_id, &api_key, &users, jwt.ephemeral)?;

        let ingestor = app.state().ingestor().clone();
        let traffic = tokio::spawn(synthetic_alerts(
            ingestor,
            tenant_id,
            key_id,
            args.alerts_per_minute,
        ));
        let served = app.run_until_stopped(shutdown::signal()).await;
        traffic.abort();
        Ok(served?)
    }
    .await;
    database.shut_down().await;
    result
}

/// Registers the demo tenant (once) with its inventory, and issues a fresh API
/// key, revoking the keys of earlier demo runs.
async fn prepare_tenant(
    pool: &sqlx::PgPool,
    tenants: &AggregateStore<Tenant>,
    tenant_id: TenantId,
) -> anyhow::Result<(ApiKeyId, String)> {
    let id = tenant_id.to_string();
    let actor = Actor::new(UserId::parse("demo")?, "alertledger demo", Role::MspAdmin);
    let metadata = || EventMetadata::by("system:demo");
    let state = tenants.load(&id).await?;
    if state.tenant_id().is_none() {
        let name = TenantName::parse("Demo Client Ltd")?;
        let slug = TenantSlug::parse("demo")?;
        tenant_admin::create_tenant(pool, tenants, tenant_id, name, slug, metadata())
            .await
            .context("cannot register the demo tenant")?;
        for (asset, critical, instance) in ASSETS {
            let upsert = TenantCommand::UpsertAsset {
                asset: AssetName::parse(asset)?,
                critical,
                instance_ids: vec![InstanceId::parse(instance)?],
                actor: actor.clone(),
            };
            tenants.execute(&id, upsert, metadata()).await?;
        }
    }
    for (key_id, _) in state.active_api_keys() {
        let revoke = TenantCommand::RevokeApiKey {
            key_id,
            actor: actor.clone(),
        };
        tenants.execute(&id, revoke, metadata()).await?;
    }
    let label = Some(ApiKeyLabel::parse("demo")?);
    let (key_id, api_key) =
        tenant_admin::issue_api_key(tenants, tenant_id, label, actor, metadata())
            .await
            .context("cannot issue the demo API key")?;
    Ok((key_id, api_key))
}

/// The demo's built-in user of `role`.
fn demo_email(role: Role) -> String {
    format!("{}@demo.alertledger.test", role.as_str().replace('_', "-"))
}

/// One built-in user per role (created once, with fixed ids), each given a
/// fresh random password on every run; returns (email, password) by role.
async fn prepare_users(
    app: &Application,
    tenant_id: TenantId,
) -> anyhow::Result<Vec<(Role, String, String)>> {
    let people = app.state().people();
    let pool = app.pool();
    let actor = Actor::new(UserId::parse("demo")?, "alertledger demo", Role::MspAdmin);
    let metadata = EventMetadata::by("system:demo");
    let mut users = Vec::new();
    for (index, role) in DEMO_ROLES.into_iter().enumerate() {
        let email = demo_email(role);
        let password = format!("demo-{}", &secret_token::generate()[..18]);
        let existing: Option<uuid::Uuid> =
            sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
                .bind(&email)
                .fetch_optional(pool)
                .await?;
        let failed = |e: alertledger_api::error::ApiError| {
            anyhow::anyhow!("cannot prepare the demo user {email}: {}", e.message())
        };
        match existing {
            Some(id) => {
                let mut tx = pool.begin().await?;
                let events = directory::set_password(
                    people,
                    &mut tx,
                    id,
                    password.clone(),
                    None,
                    actor.clone(),
                    &metadata,
                )
                .await
                .map_err(failed)?;
                tx.commit().await?;
                people.committed(&events);
            }
            None => {
                let id = uuid::Uuid::from_u128(DEMO_USER_BASE + index as u128);
                directory::invite(
                    people,
                    pool,
                    NewUser {
                        id,
                        email: email.clone(),
                        name: format!("Demo {}", role.as_str()),
                        role,
                        tenants: if role == Role::MspAdmin {
                            Vec::new()
                        } else {
                            vec![tenant_id]
                        },
                        password: Some(password.clone()),
                    },
                    actor.clone(),
                    &metadata,
                )
                .await
                .map_err(failed)?;
            }
        }
        users.push((role, email, password));
    }
    Ok(users)
}

const DEMO_ROLES: [Role; 4] = [
    Role::MspAdmin,
    Role::TenantAdmin,
    Role::Technician,
    Role::Viewer,
];

/// The demo users' ids are fixed (this, plus 0..=3).
const DEMO_USER_BASE: u128 = 0x0195_d1a0_0000_7000_8000_0000_0000_0e00;

#[allow(clippy::print_stdout)]
fn print_welcome(
    app: &Application,
    issuer: &TokenIssuer,
    tenant_id: TenantId,
    api_key: &str,
    users: &[(Role, String, String)],
    ephemeral_secret: bool,
) -> anyhow::Result<()> {
    let scheme = if app.is_tls() { "https" } else { "http" };
    let url = format!("{scheme}://{}", app.local_addr()?);
    println!("\nalertledger demo is running at {url}");
    println!("  dashboard {url}/ (sign in by pasting a token below)");
    println!("  tenant   {tenant_id} (slug: demo)");
    println!("  API key  {api_key}");
    println!("\nUsers (sign in with POST /api/v1/auth/login; passwords are new on every run):");
    for (role, email, password) in users {
        println!("  {:<13} {email:<40} {password}", role.as_str());
    }
    println!("\nTokens (12 h) for each role:");
    for role in [
        Role::MspAdmin,
        Role::TenantAdmin,
        Role::Technician,
        Role::Viewer,
    ] {
        let token = issuer.issue(&TokenRequest {
            sub: format!("demo-{}", role.as_str()),
            name: format!("Demo {}", role.as_str()),
            role,
            tenants: vec![tenant_id],
            ttl: Duration::from_secs(12 * 3_600),
        })?;
        println!("  {:<13} {token}", role.as_str());
    }
    println!("\nTry:");
    if let Some((_, email, password)) = users.first() {
        println!(
            "  curl -s -H 'Content-Type: application/json' -d '{{\"email\":\"{email}\",\"password\":\"{password}\"}}' {url}/api/v1/auth/login"
        );
    }
    println!("  curl -s -H 'Authorization: Bearer <token>' '{url}/api/v1/events?limit=5'");
    println!("  curl -N -H 'Authorization: Bearer <token>' '{url}/api/v1/stream'");
    println!(
        "  curl -s -X POST -H 'X-API-Key: {api_key}' -H 'Content-Type: application/json' \\\n    \
         -d '{{\"asset_name\":\"web01\",\"signature\":\"HighCPU\",\"severity\":\"high\",\"message\":\"hello\"}}' \\\n    \
         {url}/api/v1/webhooks/generic"
    );
    if ephemeral_secret {
        println!("\n(These tokens die with this process: no ALERTLEDGER_JWT_SECRET is set.)");
    }
    println!();
    Ok(())
}

/// Posts synthetic alerts through the same parsing and ingestion as the
/// `generic` webhook, until aborted.
async fn synthetic_alerts(
    ingestor: AlertIngestor,
    tenant_id: TenantId,
    key_id: ApiKeyId,
    per_minute: u32,
) {
    let mut rng = StdRng::from_entropy();
    let mut ticker =
        tokio::time::interval(Duration::from_secs_f64(60.0 / f64::from(per_minute.max(1))));
    let severities = [
        "critical", "high", "high", "medium", "medium", "medium", "low",
    ];
    loop {
        ticker.tick().await;
        let (asset, signature, tool, message) = PROBLEMS[rng.gen_range(0..PROBLEMS.len())];
        let body = json!({
            "asset_name": asset,
            "signature": signature,
            "severity": severities[rng.gen_range(0..severities.len())],
            "message": message,
            "tool_source": tool,
            "status": if rng.gen_bool(0.15) { "resolved" } else { "firing" },
            "labels": { "env": "production", "team": if asset.starts_with("db") { "data" } else { "web" } },
            "occurred_at": chrono::Utc::now().to_rfc3339(),
        });
        let delivery = Delivery {
            tenant_id,
            key_id,
            source: WebhookSource::Demo,
            request_key: Some(format!("demo-{}", uuid::Uuid::now_v7())),
            request_id: None,
            source_ip: None,
        };
        let result = match parse_generic(&body, chrono::Utc::now()) {
            Ok(alerts) => ingestor.ingest(&delivery, alerts).await.map(|_| ()),
            Err(error) => Err(error),
        };
        if let Err(error) = result {
            tracing::warn!(?error, "the demo could not post a synthetic alert");
        }
    }
}
