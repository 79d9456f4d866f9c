//! `alertledger serve`: the service.

use std::sync::Arc;
use std::time::Duration;

use alertledger_api::auth::signing::MasterKey;
use alertledger_api::edge::{AuthFailureLimit, ConnectionLimits, EdgeSettings, TlsSettings};
use alertledger_api::feed::{FeedSettings, StreamLimits};
use alertledger_api::ingest::sources::{SnsCertificate, SourceSettings};
use alertledger_api::people::AuthSettings;
use alertledger_api::{ApiSettings, RemediationSettings};
use alertledger_domain::DomainServices;
use alertledger_eventstore::alarms::Alarms;
use alertledger_platform::config::Environment;
use alertledger_seal::CheckpointSigner;
use alertledger_ssm::{AwsSsm, SsmService};
use alertledger_workers::background::WorkerSettings;
use alertledger_workers::notifier::{NotifierDelivery, NotifierSettings};
use alertledger_workers::remediation::ExecutorSettings;
use alertledger_workers::sealer::checkpointer::CheckpointSettings;
use anyhow::Context;

use crate::cli::{GlobalArgs, ServeArgs};
use crate::database::ProvisionedDatabase;
use crate::security::{checkpoint_signer, jwt_setup, master_key, with_private_key, JwtSetup};
use crate::shutdown;
use crate::startup::{AppConfig, Application, BackgroundSettings};

/// The application's configuration from `serve`'s arguments.
pub async fn app_config(
    args: &ServeArgs,
    jwt: &JwtSetup,
    master_key: MasterKey,
    signer: CheckpointSigner,
) -> anyhow::Result<AppConfig> {
    let signer = Arc::new(signer);
    let sources = SourceSettings {
        max_alerts_per_delivery: args.max_alerts_per_delivery as usize,
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
        // `run` sets it from the environment (production refuses unchecked SNS).
        require_sns_signature: false,
    };
    if let Some(endpoint) = &args.remediation.aws_endpoint_url {
        tracing::warn!(%endpoint, "every AWS call goes to this endpoint (ALERTLEDGER_AWS_ENDPOINT_URL)");
    }
    let ssm: Arc<dyn SsmService> =
        Arc::new(AwsSsm::from_environment(args.remediation.aws_endpoint_url.as_deref()).await);
    let services = DomainServices::system();
    // The notifier's delivery opens channel secrets with the same key the
    // API seals them with.
    let notifier_delivery = NotifierDelivery {
        cipher: master_key.channel_secret_cipher(),
        senders: alertledger_notify::Senders::standard()
            .context("cannot build the notification senders' HTTP client")?,
    };
    let api = ApiSettings {
        listen: args.listen,
        jwt: jwt.verifier.clone(),
        master_key,
        sources,
        feed: FeedSettings {
            heartbeat: Duration::from_secs(args.feed_heartbeat_secs),
            buffer_batches: usize::try_from(args.feed_buffer).unwrap_or(usize::MAX),
            history_batch: usize::try_from(args.feed_history_batch).unwrap_or(usize::MAX),
            history_bytes: usize::try_from(args.feed_history_bytes).unwrap_or(usize::MAX),
            streams: StreamLimits {
                per_user: usize::try_from(args.feed_streams_per_user).unwrap_or(usize::MAX),
                per_tenant: usize::try_from(args.feed_streams_per_tenant).unwrap_or(usize::MAX),
            },
            ..FeedSettings::default()
        },
        audit_public_key: signer.public_key(),
        remediation: RemediationSettings {
            approval_ttl: args.remediation.approval_ttl,
            ssm: Some(ssm.clone()),
        },
        services,
        edge: EdgeSettings {
            cors_origins: args.cors_origins.clone().unwrap_or_default(),
            trusted_proxies: args.trusted_proxies.clone().unwrap_or_default(),
            tls: match (&args.tls_cert, &args.tls_key) {
                (Some(cert), Some(key)) => Some(TlsSettings {
                    cert: cert.clone(),
                    key: key.clone(),
                    reload_interval: Duration::from_secs(args.tls_reload_secs),
                }),
                _ => None,
            },
            connections: ConnectionLimits {
                header_read: Duration::from_secs(args.header_read_timeout_secs),
                body_read: Duration::from_secs(args.body_read_timeout_secs),
                idle: Duration::from_secs(args.idle_timeout_secs),
                tls_handshake: Duration::from_secs(args.tls_handshake_timeout_secs),
                max_connections: usize::try_from(args.max_connections).unwrap_or(usize::MAX),
            },
            auth_failures: AuthFailureLimit {
                per_minute: args.auth_failures_per_minute,
                burst: args.auth_failure_burst,
                ..AuthFailureLimit::default()
            },
        },
        alarms: Alarms::default(),
        metrics_token: args.metrics_token.clone(),
        auth: AuthSettings {
            access_ttl: args.access_token_ttl,
            session_ttl: args.session_ttl,
            ..AuthSettings::default()
        },
        token_issuer: jwt.issuer.clone(),
        notify_policy: alertledger_notify::OutboundPolicy {
            allow_loopback_http: args.notify_allow_loopback_http,
        },
        oidc: args.oidc.settings()?,
    };
    let workers = WorkerSettings {
        approval_ttl: args.remediation.approval_ttl,
        executor: ExecutorSettings {
            timeout: args.remediation.execution_timeout,
            ..ExecutorSettings::default()
        },
        ssm: Some(ssm),
        notifier: NotifierSettings {
            coalesce_interval: Duration::from_secs(args.notify_coalesce_seconds),
            link_base: args.public_url.clone(),
            ..NotifierSettings::default()
        },
        notifier_delivery: Some(notifier_delivery),
        audit_signer: Some(signer),
        checkpoints: CheckpointSettings {
            directory: args.checkpoint_dir.clone(),
            ..CheckpointSettings::default()
        },
        ..WorkerSettings::default()
    };
    Ok(AppConfig {
        api,
        background: Some(BackgroundSettings {
            workers,
            ..BackgroundSettings::default()
        }),
    })
}

/// Connects as the service (migrating as the owner where it can, see
/// [`ProvisionedDatabase::connect_service`]) and builds the application.
pub async fn build(
    database: &ProvisionedDatabase,
    environment: Environment,
    config: AppConfig,
) -> anyhow::Result<Application> {
    let pool = database.connect_service(environment).await?;
    let app = Application::build(config, pool)
        .await
        .context("cannot start the API")?;
    let scheme = if app.is_tls() { "https" } else { "http" };
    tracing::info!(address = %app.local_addr()?, scheme, "alertledger is listening");
    Ok(app)
}

pub async fn run(global: &GlobalArgs, args: ServeArgs) -> anyhow::Result<()> {
    let jwt = with_private_key(global, jwt_setup(global)?, args.jwt_private_key.as_deref())?;
    let mut config =
        app_config(&args, &jwt, master_key(global)?, checkpoint_signer(global)?).await?;
    // Production refuses SNS messages whose signature it cannot check.
    config.api.sources.require_sns_signature = global.environment.is_production();
    let database = ProvisionedDatabase::provision(&args.database).await?;
    let result = async {
        build(&database, global.environment, config)
            .await?
            .run_until_stopped(shutdown::signal())
            .await?;
        Ok(())
    }
    .await;
    database.shut_down().await;
    result
}
