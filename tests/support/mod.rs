//! Starting the application for end-to-end tests: a fresh database, the real
//! router on port 0, and helpers to make tenants, keys and tokens.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod browser;
pub mod feed;
pub mod process;
pub mod receivers;
pub mod remediation;

use std::sync::Arc;
use std::time::{Duration, Instant};

use alertledger::startup::{AppConfig, Application, BackgroundSettings};
use alertledger_api::auth::api_key::{generate_api_key, hash_api_key};
use alertledger_api::auth::jwt::{
    JwtKey, JwtVerifier, TokenIssuer, TokenRequest, DEFAULT_AUDIENCE, DEFAULT_ISSUER,
};
use alertledger_api::auth::signing::MasterKey;
use alertledger_api::edge::EdgeSettings;
use alertledger_api::feed::FeedSettings;
use alertledger_api::ingest::sources::SourceSettings;
use alertledger_api::{ApiSettings, RemediationSettings};
use alertledger_domain::tenant::{Tenant, TenantCommand};
use alertledger_domain::values::{Actor, ApiKeyId, Role, TenantId, TenantName, TenantSlug, UserId};
use alertledger_domain::DomainServices;
use alertledger_eventstore::store::{AggregateStore, EventMetadata};
use alertledger_schema::TestDatabase;
use alertledger_seal::CheckpointSigner;
use alertledger_workers::background::WorkerSettings;
use alertledger_workers::notifier::{NotifierDelivery, NotifierSettings};
use alertledger_workers::remediation::DEFAULT_APPROVAL_TTL;
use alertledger_workers::sealer::checkpointer::CheckpointSettings;
use tokio::sync::oneshot;

pub const JWT_SECRET: &[u8] = b"end-to-end-test-secret-of-32-bytes!!";

/// The key every test application signs audit checkpoints with.
pub fn audit_signer() -> CheckpointSigner {
    CheckpointSigner::from_seed([42; 32])
}

/// A running application on its own database.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub db: TestDatabase,
    tenants: AggregateStore<Tenant>,
    issuer: TokenIssuer,
    stop: Option<oneshot::Sender<()>>,
    /// The running application's task (to wait for its shutdown on a restart).
    running: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    /// Seals channel and webhook secrets (shared with delivery workers).
    pub master_key: MasterKey,
}

/// Delivery with the real senders, opening secrets under `master_key`.
fn notifier_delivery(master_key: &MasterKey) -> NotifierDelivery {
    NotifierDelivery {
        cipher: master_key.channel_secret_cipher(),
        senders: alertledger_notify::Senders::standard().unwrap(),
    }
}

/// A tenant with an API key that the running application already accepts.
pub struct TestTenant {
    pub id: TenantId,
    pub api_key: String,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(
            Some(WorkerSettings::default()),
            FeedSettings::default(),
            None,
        )
        .await
    }

    /// The application with its workers under `settings` (e.g. with an SSM
    /// double for the executor).
    pub async fn spawn_with_background(settings: WorkerSettings) -> Self {
        Self::spawn_with(Some(settings), FeedSettings::default(), None).await
    }

    /// The application with its live feed configured (e.g. a short heartbeat
    /// or a small buffer).
    pub async fn spawn_with_feed(feed: FeedSettings) -> Self {
        Self::spawn_with(Some(WorkerSettings::default()), feed, None).await
    }

    /// The application without its projections and workers, for tests that
    /// drive (and kill) them on their own.
    pub async fn spawn_without_background() -> Self {
        Self::spawn_with(None, FeedSettings::default(), None).await
    }

    /// The application connected as the service's own database role (a
    /// member of `alertledger_service` that owns nothing), as production runs.
    pub async fn spawn_as_service_role() -> Self {
        Self::spawn_on(
            Some(WorkerSettings::default()),
            FeedSettings::default(),
            true,
            None,
        )
        .await
    }

    /// The application with `/metrics` behind `token`.
    pub async fn spawn_with_metrics_token(token: &str) -> Self {
        Self::spawn_on(
            Some(WorkerSettings::default()),
            FeedSettings::default(),
            false,
            Some(token.to_owned()),
        )
        .await
    }

    /// The application with its webhook sources configured (e.g. an SNS
    /// signing certificate, or production's refusal of unsigned SNS).
    pub async fn spawn_with_sources(sources: SourceSettings) -> Self {
        Self::spawn_configured(
            Some(WorkerSettings::default()),
            FeedSettings::default(),
            false,
            None,
            sources,
        )
        .await
    }

    /// The application with its API settings changed by `configure` (e.g.
    /// single sign-on, or a fixed port).
    pub async fn spawn_with_api(configure: impl FnOnce(&mut ApiSettings)) -> Self {
        Self::spawn_keyed(
            Some(WorkerSettings::default()),
            FeedSettings::default(),
            false,
            None,
            SourceSettings::default(),
            MasterKey::generate(),
            configure,
        )
        .await
    }

    async fn spawn_with(
        workers: Option<WorkerSettings>,
        feed: FeedSettings,
        metrics_token: Option<String>,
    ) -> Self {
        Self::spawn_on(workers, feed, false, metrics_token).await
    }

    async fn spawn_on(
        workers: Option<WorkerSettings>,
        feed: FeedSettings,
        as_service_role: bool,
        metrics_token: Option<String>,
    ) -> Self {
        Self::spawn_configured(
            workers,
            feed,
            as_service_role,
            metrics_token,
            SourceSettings::default(),
        )
        .await
    }

    async fn spawn_configured(
        workers: Option<WorkerSettings>,
        feed: FeedSettings,
        as_service_role: bool,
        metrics_token: Option<String>,
        sources: SourceSettings,
    ) -> Self {
        Self::spawn_keyed(
            workers,
            feed,
            as_service_role,
            metrics_token,
            sources,
            MasterKey::generate(),
            |_| {},
        )
        .await
    }

    /// The application with its notifier under `notifier`, delivering
    /// (`deliver`) with the senders for real, or only requesting (the
    /// outbox fills and nothing is sent: tests that drive delivery).
    pub async fn spawn_with_notifier(notifier: NotifierSettings, deliver: bool) -> Self {
        let master_key = MasterKey::generate();
        let workers = WorkerSettings {
            notifier,
            notifier_delivery: deliver.then(|| notifier_delivery(&master_key)),
            ..WorkerSettings::default()
        };
        Self::spawn_keyed(
            Some(workers),
            FeedSettings::default(),
            false,
            None,
            SourceSettings::default(),
            master_key,
            |_| {},
        )
        .await
    }

    /// What a delivery worker of this application needs (its master key).
    pub fn notifier_delivery(&self) -> NotifierDelivery {
        notifier_delivery(&self.master_key)
    }

    async fn spawn_keyed(
        workers: Option<WorkerSettings>,
        feed: FeedSettings,
        as_service_role: bool,
        metrics_token: Option<String>,
        sources: SourceSettings,
        master_key: MasterKey,
        configure: impl FnOnce(&mut ApiSettings),
    ) -> Self {
        let db = TestDatabase::create().await;
        let approval_ttl = workers
            .as_ref()
            .map_or(DEFAULT_APPROVAL_TTL, |settings| settings.approval_ttl);
        let ssm = workers.as_ref().and_then(|settings| settings.ssm.clone());
        let background = workers.map(|workers| BackgroundSettings {
            workers: WorkerSettings {
                audit_signer: Some(Arc::new(audit_signer())),
                // Sooner than serve's 10 s, so tests wait less for a checkpoint.
                checkpoints: CheckpointSettings {
                    max_interval: Duration::from_millis(200),
                    tick: Duration::from_millis(50),
                    directory: workers.checkpoints.directory.clone(),
                    ..CheckpointSettings::default()
                },
                ..workers
            },
            ..BackgroundSettings::default()
        });
        let mut api = api_settings(approval_ttl, ssm, sources, feed, metrics_token, test_edge());
        api.master_key = master_key.clone();
        configure(&mut api);
        let config = AppConfig { api, background };
        let pool = if as_service_role {
            service_role_pool(&db).await
        } else {
            db.pool().clone()
        };
        let app = Application::build(config, pool).await.unwrap();
        let address = format!("http://127.0.0.1:{}", app.port());
        let signal = app.signal().clone();
        let (stop, stopped) = oneshot::channel();
        let running = tokio::spawn(app.run_until_stopped(async move {
            let _ = stopped.await;
        }));
        let tenants = AggregateStore::new(db.pool().clone(), DomainServices::system(), signal);
        Self {
            address,
            client: reqwest::Client::new(),
            db,
            tenants,
            issuer: TokenIssuer::hs256(JWT_SECRET, DEFAULT_ISSUER, DEFAULT_AUDIENCE).unwrap(),
            stop: Some(stop),
            running: Some(running),
            master_key,
        }
    }

    /// Stops the application as a process exit would: API, projections and
    /// workers end (their advisory locks with their connections) and its
    /// pool closes, so `db.pool()` is unusable afterwards (see
    /// [`TestApp::start_again`]).
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(running) = self.running.take() {
            let _ = running.await;
        }
    }

    /// Starts the application again on the same database with `workers`,
    /// after [`TestApp::stop`]: a restarted process. Returns its pool (the
    /// first one closed with the first process).
    pub async fn start_again(&mut self, workers: WorkerSettings) -> sqlx::PgPool {
        let pool = alertledger_schema::connect(self.db.url(), &Default::default())
            .await
            .unwrap();
        let mut api = api_settings(
            DEFAULT_APPROVAL_TTL,
            None,
            SourceSettings::default(),
            FeedSettings::default(),
            None,
            test_edge(),
        );
        // The same key as before the restart, so sealed secrets still open.
        api.master_key = self.master_key.clone();
        let config = AppConfig {
            api,
            background: Some(BackgroundSettings {
                workers,
                ..BackgroundSettings::default()
            }),
        };
        let app = Application::build(config, pool.clone()).await.unwrap();
        self.address = format!("http://127.0.0.1:{}", app.port());
        let (stop, stopped) = oneshot::channel();
        self.running = Some(tokio::spawn(app.run_until_stopped(async move {
            let _ = stopped.await;
        })));
        self.stop = Some(stop);
        pool
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// One request with `token` (and a JSON `body`): the status and the
    /// JSON answer (`Null` when the answer is not JSON).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut request = self
            .client
            .request(method, self.url(path))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (
            status,
            response.json().await.unwrap_or(serde_json::Value::Null),
        )
    }

    /// Registers a tenant, issues it an API key, and waits until the
    /// application's tenant directory (which follows the log) accepts the key.
    pub async fn create_tenant(&self, slug: &str) -> TestTenant {
        let id = TenantId::new_v7();
        let actor = Actor::new(UserId::parse("admin").unwrap(), "Admin", Role::MspAdmin);
        let register = TenantCommand::RegisterTenant {
            tenant_id: id,
            name: TenantName::parse(slug).unwrap(),
            slug: TenantSlug::parse(slug).unwrap(),
        };
        self.tenants
            .execute(&id.to_string(), register, EventMetadata::default())
            .await
            .unwrap();
        let api_key = generate_api_key();
        let issue = TenantCommand::IssueApiKey {
            key_id: ApiKeyId::new_v7(),
            hash: hash_api_key(&api_key),
            label: None,
            actor,
        };
        self.tenants
            .execute(&id.to_string(), issue, EventMetadata::default())
            .await
            .unwrap();
        let tenant = TestTenant { id, api_key };
        self.wait_for_key(&tenant).await;
        tenant
    }

    /// Lifts `tenant`'s rate limit, which counts alerts (API.md's default is
    /// 600 a minute, burst 1,000), for tests that post thousands on purpose.
    /// Through the API, whose answer comes after this process's directory
    /// has the new limit.
    pub async fn lift_rate_limit(&self, tenant: &TestTenant) {
        let admin = self.token(Role::MspAdmin, &[]);
        let response = self
            .client
            .put(self.url(&format!("/api/v1/tenants/{}/rate-limit", tenant.id)))
            .bearer_auth(admin)
            .json(&serde_json::json!({"requests_per_minute": 1_000_000, "burst": 1_000_000}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "lift the rate limit");
    }

    async fn wait_for_key(&self, tenant: &TestTenant) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            // An unknown source is a 404 after authentication, a 401 before
            // it, and leaves no trace (a refused delivery would be recorded).
            let status = self
                .client
                .post(self.url("/api/v1/webhooks/key-probe"))
                .header("X-API-Key", &tenant.api_key)
                .send()
                .await
                .unwrap()
                .status();
            // A 429 is the limit on failed authentications (the probes
            // before the key is known count as such): keep waiting.
            if status != reqwest::StatusCode::UNAUTHORIZED
                && status != reqwest::StatusCode::TOO_MANY_REQUESTS
            {
                return;
            }
            assert!(Instant::now() < deadline, "the API key never became active");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn token(&self, role: Role, tenants: &[TenantId]) -> String {
        self.token_with_ttl(role, tenants, Duration::from_secs(600))
    }

    /// A token that expires after `ttl`.
    pub fn token_with_ttl(&self, role: Role, tenants: &[TenantId], ttl: Duration) -> String {
        self.issue(&format!("user-{}", role.as_str()), role, tenants, ttl)
    }

    /// A token of user `sub` (for rules about who did what, e.g. no self-approval).
    pub fn token_for(&self, sub: &str, role: Role, tenants: &[TenantId]) -> String {
        self.issue(sub, role, tenants, Duration::from_secs(600))
    }

    fn issue(&self, sub: &str, role: Role, tenants: &[TenantId], ttl: Duration) -> String {
        self.issuer
            .issue(&TokenRequest {
                sub: sub.to_owned(),
                name: "Test User".into(),
                role,
                tenants: tenants.to_vec(),
                ttl,
            })
            .unwrap()
    }

    pub async fn post_alert(
        &self,
        tenant: &TestTenant,
        body: &serde_json::Value,
    ) -> reqwest::Response {
        self.client
            .post(self.url("/api/v1/webhooks/generic"))
            .header("X-API-Key", &tenant.api_key)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// GETs `path` as `token` until `done` accepts the JSON body (the log
    /// shows events only once every older transaction in the cluster ended).
    pub async fn get_until(
        &self,
        path: &str,
        token: &str,
        done: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let response = self
                .client
                .get(self.url(path))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "GET {path}");
            let body: serde_json::Value = response.json().await.unwrap();
            if done(&body) {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "GET {path} never satisfied the test: {body}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until log consumer `name` (a projection or worker) has applied
    /// the event at `position`, by its checkpoint: how tests wait for the
    /// background instead of sleeping.
    pub async fn wait_until_consumed(&self, name: &str, position: i64) {
        let applied = alertledger_eventstore::consumer::wait_until_applied(
            self.db.pool(),
            name,
            position,
            Duration::from_secs(60),
        )
        .await
        .unwrap();
        assert!(applied, "{name} never applied position {position}");
    }

    /// GETs `path` until it answers 200 (the sealer and checkpointer follow
    /// the log asynchronously; 409 `not_yet_sealed` until then).
    pub async fn get_when_sealed(&self, path: &str, token: &str) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let response = self
                .client
                .get(self.url(path))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            let status = response.status();
            let body: serde_json::Value = response.json().await.unwrap();
            if status == 200 {
                return body;
            }
            assert_eq!(status, 409, "GET {path}: {body}");
            assert_eq!(body["error"]["code"], "not_yet_sealed");
            assert!(Instant::now() < deadline, "{path} never sealed");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Rows of the events table (not the horizon-bounded log) for `event_type`.
    pub async fn stored(&self, event_type: &str) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = $1")
            .bind(event_type)
            .fetch_one(self.db.pool())
            .await
            .unwrap()
    }
}

/// Another API process on the same database, as a second replica behind a
/// load balancer would run: API only (the first one runs the projections
/// and workers), with its own edge settings (e.g. native TLS). Built after
/// the tenants it must know, since its tenant directory loads at start.
/// Stops when dropped.
pub struct Replica {
    pub port: u16,
    stop: Option<oneshot::Sender<()>>,
}

impl TestApp {
    pub async fn spawn_replica(&self, edge: EdgeSettings) -> Replica {
        let mut api = api_settings(
            DEFAULT_APPROVAL_TTL,
            None,
            SourceSettings::default(),
            FeedSettings::default(),
            None,
            edge,
        );
        api.master_key = self.master_key.clone();
        let config = AppConfig {
            api,
            background: None,
        };
        let app = Application::build(config, self.db.pool().clone())
            .await
            .unwrap();
        let port = app.port();
        let (stop, stopped) = oneshot::channel();
        tokio::spawn(app.run_until_stopped(async move {
            let _ = stopped.await;
        }));
        Replica {
            port,
            stop: Some(stop),
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The API's settings every test application shares.
fn api_settings(
    approval_ttl: Duration,
    ssm: Option<Arc<dyn alertledger_ssm::SsmService>>,
    sources: SourceSettings,
    feed: FeedSettings,
    metrics_token: Option<String>,
    edge: EdgeSettings,
) -> ApiSettings {
    ApiSettings {
        listen: "127.0.0.1:0".parse().unwrap(),
        jwt: JwtVerifier::new(
            &JwtKey::Hs256(JWT_SECRET.to_vec()),
            DEFAULT_ISSUER,
            DEFAULT_AUDIENCE,
        )
        .unwrap(),
        master_key: MasterKey::generate(),
        sources,
        audit_public_key: audit_signer().public_key(),
        remediation: RemediationSettings { approval_ttl, ssm },
        feed,
        services: DomainServices::system(),
        edge,
        alarms: Default::default(),
        metrics_token,
        auth: alertledger_api::people::AuthSettings::default(),
        token_issuer: Some(
            TokenIssuer::hs256(JWT_SECRET, DEFAULT_ISSUER, DEFAULT_AUDIENCE).unwrap(),
        ),
        // The tests' receivers listen on plain HTTP on loopback.
        notify_policy: alertledger_notify::OutboundPolicy {
            allow_loopback_http: true,
        },
        oidc: None,
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The edge settings of in-process test apps: no limit on failed
/// authentications, since every test polls with keys the tenant directory
/// may not know yet (each such probe is a 401) from one address. The limit
/// itself is tested on the real binary (tests/security_auth_flood.rs).
fn test_edge() -> EdgeSettings {
    EdgeSettings {
        auth_failures: alertledger_api::edge::AuthFailureLimit {
            per_minute: 0,
            ..Default::default()
        },
        ..EdgeSettings::default()
    }
}

/// The login role tests connect as the service with (roles are
/// cluster-wide; every test database grants the same group role).
pub const TEST_SERVICE_ROLE: &str = "alertledger_test_service";

/// A pool on `db` as [`TEST_SERVICE_ROLE`], created (as the owner) if missing.
pub async fn service_role_pool(db: &TestDatabase) -> sqlx::PgPool {
    alertledger_schema::roles::ensure_service_login(db.pool(), TEST_SERVICE_ROLE, None)
        .await
        .expect("create the service login role");
    alertledger_schema::connect_as(
        db.url(),
        TEST_SERVICE_ROLE,
        None,
        &alertledger_schema::PoolSettings::default(),
    )
    .await
    .expect("connect as the service role")
}

pub fn generic_alert(asset: &str) -> serde_json::Value {
    serde_json::json!({
        "asset_name": asset,
        "signature": "HighCPU",
        "severity": "critical",
        "message": "CPU > 95% for 5 minutes",
        "tool_source": "prometheus",
        "labels": { "env": "production" },
        "occurred_at": "2026-11-22T03:07:32Z"
    })
}
