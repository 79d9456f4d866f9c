//! alertledger's HTTP API: every route of API.md, its authentication and
//! errors, the live feed and the dashboard. It appends through the event
//! store and answers from the read models; it never runs a worker.
//!
//! # Layout
//!
//! - [`Application`] — builds the router on a pool, binds its own listener
//!   (port 0 in tests), and runs until a shutdown future resolves.
//! - [`routes`] — handlers, one module per area of API.md.
//! - [`auth`] — JWT callers, tenant API keys, webhook signatures, permissions.
//! - [`feed`] — the live feed (one log tailer fanned out to SSE and WebSocket).
//! - [`ingest`] — webhook payloads to normalized alerts to stored receipts.
//! - [`tenant_directory`] — in-memory tenant lookups fed from the log.
//! - [`error`] — the one error type and its JSON body.

pub mod auth;
pub mod error;
pub mod extract;
pub mod feed;
pub mod ingest;
pub mod rate_limit;
pub mod routes;
pub mod state;
pub mod tenant_admin;
pub mod tenant_directory;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use alertledger_domain::alert::Alert;
use alertledger_domain::DomainServices;
use alertledger_eventstore::log::{LogReader, LogSignal, LogTailer, TailSettings, WakeOn};
use alertledger_eventstore::receipts::{BatcherSettings, ReceiptBatcher};
use alertledger_eventstore::store::AggregateStore;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::routing::{delete, get, post, put};
use axum::Router;
use sqlx::PgPool;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::auth::jwt::JwtVerifier;
use crate::auth::signing::{ActiveSecrets, MasterKey, WebhookSecretCipher, WebhookSecretStore};
use crate::feed::{FeedHub, FeedSettings};
use crate::ingest::refusals::DeliveryRecorder;
use crate::ingest::sources::SourceSettings;
use crate::ingest::{AlertIngestor, SourceLifecycle};
use crate::rate_limit::TenantRateLimiter;
use crate::state::{AppState, Parts};
use crate::tenant_directory::TenantDirectory;

/// What the API needs beyond its database.
#[derive(Clone)]
pub struct ApiSettings {
    pub listen: SocketAddr,
    pub jwt: JwtVerifier,
    /// Encrypts webhook signing secrets at rest.
    pub master_key: MasterKey,
    /// What source parsers need (e.g. the SNS signing certificate).
    pub sources: SourceSettings,
    /// The live feed's buffer, heartbeat and retry hint.
    pub feed: FeedSettings,
    /// The public half of the key that signs audit checkpoints.
    pub audit_public_key: alertledger_seal::PublicKey,
    /// Runbook runs and approvals.
    pub remediation: RemediationSettings,
    /// The clock every command and receipt is stamped with (a fixed one in tests).
    pub services: DomainServices,
}

/// What the runbook, approval and patch-compliance routes need.
#[derive(Clone)]
pub struct RemediationSettings {
    /// How long an approval request made through the API stays decidable.
    pub approval_ttl: std::time::Duration,
    /// SSM, for `GET /api/v1/patch-compliance` (`None`: that route is 503).
    pub ssm: Option<std::sync::Arc<dyn alertledger_ssm::SsmService>>,
}

impl Default for RemediationSettings {
    fn default() -> Self {
        Self {
            approval_ttl: std::time::Duration::from_secs(60 * 60),
            ssm: None,
        }
    }
}

/// A built, bound, not yet running API server.
pub struct Application {
    listener: tokio::net::TcpListener,
    router: Router,
    state: AppState,
}

impl Application {
    /// Wires the API on `pool` (already migrated) and binds `settings.listen`.
    pub async fn build(
        settings: ApiSettings,
        pool: PgPool,
        signal: LogSignal,
    ) -> Result<Self, BuildError> {
        let reader = LogReader::new(pool.clone());
        // The directory follows configuration, not the stream of receipts.
        let tailer = LogTailer::new(
            reader.clone(),
            signal.clone(),
            TailSettings {
                wake_on: WakeOn::NonReceiptAppends,
                ..TailSettings::default()
            },
        );
        let directory = TenantDirectory::load_and_follow(&reader, &tailer).await?;
        let batcher = ReceiptBatcher::<Alert>::start(
            pool.clone(),
            signal.clone(),
            BatcherSettings::default(),
        );
        let alerts = Arc::new(AggregateStore::new(
            pool.clone(),
            settings.services.clone(),
            signal.clone(),
        ));
        let lifecycle = SourceLifecycle::new(pool.clone(), Arc::clone(&alerts));
        let ingestor = AlertIngestor::new(
            batcher,
            directory.clone(),
            settings.services.clone(),
            lifecycle,
        );
        let tenants = AggregateStore::new(pool.clone(), settings.services.clone(), signal.clone());
        let incidents =
            AggregateStore::new(pool.clone(), settings.services.clone(), signal.clone());
        let feed = FeedHub::start(reader.clone(), signal.clone(), settings.feed).await?;
        let pool_for_secrets = pool.clone();
        let pool_for_stores = pool.clone();
        let state = AppState::new(Parts {
            pool,
            jwt: settings.jwt,
            log: reader,
            directory,
            ingestor,
            deliveries: DeliveryRecorder::new(AggregateStore::new(
                pool_for_stores.clone(),
                settings.services.clone(),
                signal.clone(),
            )),
            tenants,
            alerts,
            incidents,
            rate_limiter: TenantRateLimiter::default(),
            secrets: ActiveSecrets::new(WebhookSecretStore::new(
                pool_for_secrets,
                WebhookSecretCipher::new(&settings.master_key),
            )),
            sources: settings.sources,
            runbooks: AggregateStore::new(
                pool_for_stores.clone(),
                settings.services.clone(),
                signal.clone(),
            ),
            approvals: AggregateStore::new(
                pool_for_stores.clone(),
                settings.services.clone(),
                signal.clone(),
            ),
            executions: AggregateStore::new(
                pool_for_stores,
                settings.services.clone(),
                signal.clone(),
            ),
            remediation: settings.remediation,
            services: settings.services,
            audit_public_key: settings.audit_public_key,
            feed,
        });
        let listener = tokio::net::TcpListener::bind(settings.listen).await?;
        Ok(Self {
            listener,
            router: router(state.clone()),
            state,
        })
    }

    /// The bound port (useful when asked for port 0).
    pub fn port(&self) -> u16 {
        self.listener
            .local_addr()
            .map(|a| a.port())
            .unwrap_or_default()
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Shared state, for wiring that lives beside the API (e.g. the demo).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then finishes in-flight requests
    /// (open feed streams are told to end, or they would hold the server).
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let feed = self.state.feed().clone();
        let shutdown = async move {
            shutdown.await;
            feed.close();
        };
        axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
    }
}

/// Why the application could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("cannot bind the listener: {0}")]
    Bind(#[from] std::io::Error),
    #[error("cannot read the event log: {0}")]
    Database(#[from] sqlx::Error),
}

fn router(state: AppState) -> Router {
    let tenants = Router::new()
        .route(
            "/",
            post(routes::tenants::create).get(routes::tenants::list),
        )
        .route("/{id}", get(routes::tenants::show))
        .route("/{id}/api-keys", post(routes::tenants::issue_api_key))
        .route(
            "/{id}/api-keys/{key_id}",
            delete(routes::tenants::revoke_api_key),
        )
        .route(
            "/{id}/webhook-secrets",
            post(routes::tenants::add_webhook_secret),
        )
        .route(
            "/{id}/webhook-secrets/{secret_id}",
            delete(routes::tenants::revoke_webhook_secret),
        )
        .route("/{id}/webhook-signing", put(routes::tenants::set_signing))
        .route(
            "/{id}/correlation-policy",
            put(routes::tenants::set_correlation_policy),
        )
        .route("/{id}/rate-limit", put(routes::tenants::set_rate_limit))
        .route(
            "/{id}/severity-map",
            put(routes::severity_map::put_severity_map).get(routes::severity_map::get_severity_map),
        )
        .route("/{id}/assets/{asset}", put(routes::tenants::upsert_asset))
        .route("/{id}/aws", put(routes::tenants::configure_aws));
    let api = Router::new()
        .nest("/tenants", tenants)
        .route("/events", get(routes::events::list_events))
        .route("/stream", get(routes::stream::stream))
        .route("/audit", get(routes::audit::list_audit))
        .route("/audit/public-key", get(routes::audit_seal::public_key))
        .route("/audit/proof", get(routes::audit_seal::inclusion_proof))
        .route(
            "/audit/consistency",
            get(routes::audit_seal::consistency_proof),
        )
        .route("/kpis", get(routes::kpis::summary))
        .route(
            "/incidents/{id}/acknowledge",
            post(routes::incidents::acknowledge),
        )
        .route("/incidents/{id}/assign", post(routes::incidents::assign))
        .route("/incidents/{id}/resolve", post(routes::incidents::resolve))
        .route(
            "/incidents/{id}/escalate",
            post(routes::incidents::escalate),
        )
        .route("/incidents/{id}/reopen", post(routes::incidents::reopen))
        .route("/incidents/{id}/comment", post(routes::incidents::comment))
        .route("/incidents/correlate", post(routes::correlation::correlate))
        .route(
            "/alerts/{id}/acknowledge",
            post(routes::alerts::acknowledge),
        )
        .route("/alerts", get(routes::alert_views::list_alerts))
        .route("/deliveries", get(routes::deliveries::list_deliveries))
        .route("/alerts/{id}", get(routes::alert_views::show_alert))
        .route("/incidents", get(routes::incident_views::list_incidents))
        .route(
            "/incidents/{id}",
            get(routes::incident_views::show_incident),
        )
        .route(
            "/runbooks",
            get(routes::runbooks::list_runbooks).post(routes::runbooks::create_runbook),
        )
        .route(
            "/runbooks/{id}",
            get(routes::runbooks::show_runbook)
                .put(routes::runbooks::change_runbook)
                .delete(routes::runbooks::retire_runbook),
        )
        .route(
            "/runbooks/{id}/execute",
            post(routes::runbooks::execute_runbook),
        )
        .route("/approvals", get(routes::approvals::list_approvals))
        .route("/approvals/{id}", get(routes::approvals::show_approval))
        .route("/approvals/{id}/approve", post(routes::approvals::approve))
        .route("/approvals/{id}/reject", post(routes::approvals::reject))
        .route("/executions", get(routes::executions::list_executions))
        .route("/executions/{id}", get(routes::executions::show_execution))
        .route(
            "/patch-compliance",
            get(routes::patch_compliance::patch_compliance),
        )
        .route(
            "/webhooks/{source}",
            post(routes::webhooks::receive)
                .layer(DefaultBodyLimit::max(routes::webhooks::WEBHOOK_BODY_LIMIT)),
        );
    Router::new()
        .route("/healthz", get(routes::health::healthz))
        .route("/readyz", get(routes::health::readyz))
        .route("/metrics", get(routes::metrics::metrics))
        .route("/ws", get(routes::ws::connect))
        .route("/", get(routes::dashboard::page))
        .route("/dashboard/{asset}", get(routes::dashboard::asset))
        .nest("/api/v1", api)
        .fallback(error::route_not_found)
        .with_state(state)
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request| {
                // Spans are named after the route pattern, never the raw path.
                let route = request
                    .extensions()
                    .get::<MatchedPath>()
                    .map_or("unmatched", MatchedPath::as_str);
                let request_id = request
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                tracing::info_span!("request", method = %request.method(), route, request_id)
            }),
        )
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}
