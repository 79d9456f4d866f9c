//! `alertledger serve`: the service.

use std::sync::Arc;
use std::time::Duration;

use alertledger_api::auth::signing::MasterKey;
use alertledger_api::feed::FeedSettings;
use alertledger_api::ingest::sources::{SnsCertificate, SourceSettings};
use alertledger_api::{ApiSettings, Application, RemediationSettings};
use alertledger_domain::DomainServices;
use alertledger_projections::log::LogSignal;
use alertledger_schema::{connect, migrate, PoolSettings};
use alertledger_seal::CheckpointSigner;
use alertledger_ssm::{AwsSsm, SsmService};
use alertledger_workers::background::{Background, BackgroundSettings};
use alertledger_workers::remediation::ExecutorSettings;
use alertledger_workers::sealer::checkpointer::CheckpointSettings;
use anyhow::Context;
use sqlx::PgPool;

use crate::cli::{GlobalArgs, ServeArgs};
use crate::database::ProvisionedDatabase;
use crate::security::{checkpoint_signer, jwt_setup, master_key, JwtSetup};
use crate::shutdown;

/// A migrated database with the API built on it, not yet serving, and the
/// read-model projectors already following the log.
pub struct Service {
    pub app: Application,
    pub pool: PgPool,
    pub signal: LogSignal,
    /// Projectors and workers (one active instance of each per database).
    pub background: Background,
}

impl Service {
    /// Connects, migrates and builds the API on `database_url`.
    pub async fn start(
        database_url: &str,
        args: &ServeArgs,
        jwt: &JwtSetup,
        master_key: MasterKey,
        signer: CheckpointSigner,
    ) -> anyhow::Result<Self> {
        let signer = Arc::new(signer);
        let pool = connect(database_url, &PoolSettings::default()).await?;
        migrate(&pool)
            .await
            .context("cannot migrate the database")?;
        let signal = LogSignal::start(pool.clone());
        let sources = SourceSettings {
            sns_signing_cert: match &args.sns_signing_cert {
                Some(path) => {
                    let pem = std::fs::read(path).with_context(|| {
                        format!("cannot read the SNS signing certificate {}", path.display())
                    })?;
                    let certificate = SnsCertificate::from_pem(&pem).with_context(|| {
                        format!("{} is not a usable SNS signing certificate", path.display())
                    })?;
                    Some(Arc::new(certificate))
                }
                None => None,
            },
        };
        if let Some(endpoint) = &args.remediation.aws_endpoint_url {
            tracing::warn!(%endpoint, "every AWS call goes to this endpoint (ALERTLEDGER_AWS_ENDPOINT_URL)");
        }
        let ssm: Arc<dyn SsmService> =
            Arc::new(AwsSsm::from_environment(args.remediation.aws_endpoint_url.as_deref()).await);
        let settings = ApiSettings {
            listen: args.listen,
            jwt: jwt.verifier.clone(),
            master_key,
            sources,
            feed: FeedSettings {
                heartbeat: Duration::from_secs(args.feed_heartbeat_secs),
                buffer_batches: usize::try_from(args.feed_buffer).unwrap_or(usize::MAX),
                history_batch: usize::try_from(args.feed_history_batch).unwrap_or(usize::MAX),
                ..FeedSettings::default()
            },
            audit_public_key: signer.public_key(),
            remediation: RemediationSettings {
                approval_ttl: args.remediation.approval_ttl,
                ssm: Some(ssm.clone()),
            },
        };
        let app = Application::build(settings, pool.clone(), signal.clone())
            .await
            .context("cannot start the API")?;
        let background = Background::start(
            &pool,
            &signal,
            DomainServices::system(),
            BackgroundSettings {
                approval_ttl: args.remediation.approval_ttl,
                executor: ExecutorSettings {
                    timeout: args.remediation.execution_timeout,
                    ..ExecutorSettings::default()
                },
                ssm: Some(ssm),
                ..BackgroundSettings::default()
            },
        )
        .with_audit_checkpoints(&pool, signer, CheckpointSettings::default());
        tracing::info!(address = %app.local_addr()?, "alertledger is listening");
        Ok(Self {
            app,
            pool,
            signal,
            background,
        })
    }

    /// Serves until SIGINT/SIGTERM, then drains requests, stops the
    /// projectors (a batch in flight rolls back) and closes the pool.
    pub async fn run_until_signalled(self) -> anyhow::Result<()> {
        self.app.run_until_stopped(shutdown::signal()).await?;
        drop(self.background);
        self.pool.close().await;
        Ok(())
    }
}

pub async fn run(global: &GlobalArgs, args: ServeArgs) -> anyhow::Result<()> {
    let jwt = jwt_setup(global)?;
    let master_key = master_key(global)?;
    let signer = checkpoint_signer(global)?;
    let database = ProvisionedDatabase::provision(&args.database).await?;
    let result = async {
        Service::start(&database.url, &args, &jwt, master_key, signer)
            .await?
            .run_until_signalled()
            .await
    }
    .await;
    database.shut_down().await;
    result
}
