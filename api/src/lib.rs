//! alertledger's HTTP API: every route of API.md, its authentication and
//! errors, the live feed and the dashboard. It appends through the event
//! store and answers from the read models; it never runs a worker.
//!
//! # Layout
//!
//! - [`Application`] — builds the router on a pool, binds its own listener
//!   (port 0 in tests), and runs until a shutdown future resolves.
//! - [`edge`] — CORS, the client's address behind trusted proxies, native TLS.
//! - [`routes`] — handlers, one module per area of API.md.
//! - [`auth`] — JWT callers, tenant API keys, webhook signatures, permissions.
//! - [`people`] — built-in users, sign-in sessions, the revocation list.
//! - [`oidc`] — single sign-on with an OpenID Connect provider.
//! - [`feed`] — the live feed (one log tailer fanned out to SSE and WebSocket).
//! - [`ingest`] — webhook payloads to normalized alerts to stored receipts.
//! - [`tenant_directory`] — in-memory tenant lookups fed from the log.
//! - [`error`] — the one error type and its JSON body.
//! - [`openapi`] — the OpenAPI document, generated from the routes.

pub mod auth;
pub mod edge;
pub mod error;
pub mod extract;
pub mod feed;
pub mod ingest;
pub mod log_safe;
pub mod oidc;
pub mod openapi;
pub mod people;
pub mod rate_limit;
pub mod resource;
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
use axum::Router;
use sqlx::PgPool;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::auth::jwt::JwtVerifier;
use crate::auth::signing::{ActiveSecrets, MasterKey, WebhookSecretCipher, WebhookSecretStore};
use crate::edge::EdgeSettings;
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
    /// CORS, trusted proxies and TLS.
    pub edge: EdgeSettings,
    /// Workers of this process that stopped on purpose: `/readyz` is 503
    /// while any is raised.
    pub alarms: alertledger_eventstore::alarms::Alarms,
    /// Bearer token `/metrics` requires (`ALERTLEDGER_METRICS_TOKEN`; `None`:
    /// open, for a scraper on a private network).
    pub metrics_token: Option<String>,
    /// Lifetimes of access tokens, sessions and invitations.
    pub auth: crate::people::AuthSettings,
    /// Signs the access tokens of sign-ins (`None`: sign-in answers 503).
    pub token_issuer: Option<crate::auth::jwt::TokenIssuer>,
    /// Where notification channels may point (plain HTTP to loopback only
    /// when allowed).
    pub notify_policy: alertledger_notify::OutboundPolicy,
    /// Single sign-on with an OpenID Connect provider (`None`: off).
    pub oidc: Option<crate::oidc::OidcSettings>,
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
    /// Native TLS on that listener, if configured.
    tls: Option<edge::tls::TlsServer>,
    router: Router,
    state: AppState,
    /// Timeouts and the connection cap of the listener.
    limits: edge::ConnectionLimits,
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
        let revocations = crate::people::RevocationList::load_and_follow(
            &pool,
            &feed,
            settings.auth.access_ttl + std::time::Duration::from_secs(60),
        )
        .await?;
        let people = crate::people::People {
            settings: settings.auth,
            issuer: settings.token_issuer,
            revocations,
            signal: signal.clone(),
            services: settings.services.clone(),
        };
        let pool_for_secrets = pool.clone();
        let channel_secrets = alertledger_notify::ChannelSecretStore::new(
            pool.clone(),
            settings.master_key.channel_secret_cipher(),
        );
        let notification_setup =
            AggregateStore::new(pool.clone(), settings.services.clone(), signal.clone());
        let senders = alertledger_notify::Senders::standard()?;
        let oidc = settings.oidc.map(crate::oidc::Oidc::new).transpose()?;
        let pool_for_stores = pool.clone();
        let escalation_pool = pool.clone();
        let escalation_services = settings.services.clone();
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
            windows: AggregateStore::new(
                pool_for_stores.clone(),
                settings.services.clone(),
                signal.clone(),
            ),
            executions: AggregateStore::new(
                pool_for_stores.clone(),
                settings.services.clone(),
                signal.clone(),
            ),
            changes: AggregateStore::new(
                pool_for_stores,
                settings.services.clone(),
                signal.clone(),
            ),
            remediation: settings.remediation,
            services: settings.services,
            audit_public_key: settings.audit_public_key,
            alarms: settings.alarms,
            feed,
            metrics_token: settings.metrics_token.filter(|token| !token.is_empty()),
            auth_failures: edge::AuthFailureLimiter::new(settings.edge.auth_failures),
            people,
            oidc,
            notifications: state::NotificationParts {
                setup: notification_setup,
                secrets: channel_secrets,
                senders,
                policy: settings.notify_policy,
            },
            escalation: state::EscalationParts {
                setup: AggregateStore::new(
                    escalation_pool.clone(),
                    escalation_services.clone(),
                    signal.clone(),
                ),
                escalations: AggregateStore::new(
                    escalation_pool,
                    escalation_services,
                    signal.clone(),
                ),
            },
        });
        let tls = settings
            .edge
            .tls
            .as_ref()
            .map(edge::tls::TlsServer::start)
            .transpose()?;
        let listener = tokio::net::TcpListener::bind(settings.listen).await?;
        Ok(Self {
            listener,
            tls,
            router: router(state.clone(), &settings.edge),
            state,
            limits: settings.edge.connections,
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
        // The TLS server (and its certificate watcher) lives while serving.
        let acceptor = self.tls.as_ref().map(edge::tls::TlsServer::acceptor);
        let served =
            edge::server::serve(self.listener, acceptor, self.router, self.limits, shutdown).await;
        drop(self.tls);
        served
    }

    /// Whether the server speaks TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }
}

/// Why the application could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("cannot bind the listener: {0}")]
    Bind(#[from] std::io::Error),
    #[error("cannot read the event log: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Tls(#[from] edge::tls::TlsError),
    #[error(transparent)]
    OutboundHttp(#[from] alertledger_notify::send::http::ClientError),
    #[error("single sign-on: {0}")]
    Oidc(#[from] crate::oidc::OidcError),
}

/// The largest request body of a non-webhook route (API.md: 1 MiB).
pub const API_BODY_LIMIT: usize = 1024 * 1024;

/// The service's router: every route of [`routes::all`] (each with its
/// OpenAPI path), the error-body fallback, tracing, request ids, the
/// client's address behind trusted proxies and CORS.
pub fn router(state: AppState, edge: &EdgeSettings) -> Router {
    let auth_failures = Arc::clone(state.auth_failures());
    let (routes, _document) = routes::all().split_for_parts();
    let router = routes
        .fallback(error::route_not_found)
        .with_state(state)
        // Every other body: 1 MiB (API.md); the webhook route's own limit,
        // set on that route, wins for webhooks.
        .layer(DefaultBodyLimit::max(API_BODY_LIMIT))
        .layer(axum::middleware::map_response(
            error::too_large_as_error_body,
        ))
        // Inside the client-address layer (it needs the address) and the
        // trace layer (its 429s are logged like any answer).
        .layer(axum::middleware::from_fn_with_state(
            auth_failures,
            edge::auth_failures::limit,
        ))
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
                let request_id = log_safe::LogSafe(request_id);
                let client_ip = request
                    .extensions()
                    .get::<edge::ClientIp>()
                    .and_then(|client| client.0)
                    .map(tracing::field::display);
                tracing::info_span!("request", method = %request.method(), route, %request_id, client_ip)
            }),
        )
        // Outside the trace layer, so the request span knows the client.
        .layer(axum::middleware::from_fn_with_state(
            edge.trusted_proxies.clone(),
            edge::client_ip::resolve,
        ))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid));
    // Outermost: a preflight is answered before anything else looks at it.
    match edge.cors_origins.layer() {
        Some(cors) => router
            .layer(cors)
            .layer(axum::middleware::from_fn(edge::cors::strip_when_refused)),
        None => router,
    }
}
