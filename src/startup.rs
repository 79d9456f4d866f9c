//! The one place the application is put together: the API on a migrated
//! database, and its background (read-model projections and workers' log
//! consumers under the consumer runtime, plus the time-driven workers).
//! `serve`, `demo`, the end-to-end tests and the benchmarks all build it
//! here, as zero-to-production's `startup.rs` does.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use alertledger_api::{ApiSettings, BuildError};
use alertledger_domain::DomainServices;
use alertledger_eventstore::consumer::{ConsumerDaemon, LogConsumer, RunnerSettings, RunnerState};
use alertledger_eventstore::log::LogSignal;
use alertledger_schema::{connect, migrate, PoolSettings};
use alertledger_workers::background::{log_consumers, TimedWorkers, WorkerSettings};
use alertledger_workers::notifier::NotifierSettings;
use anyhow::Context;
use sqlx::PgPool;

/// Every consumer of the log a service process runs, in start order: the
/// workers' process managers, then the read-model projections. Also what
/// `projections status` lists and `projections rebuild` chooses from.
pub fn consumers(services: DomainServices, approval_ttl: Duration) -> Vec<Arc<dyn LogConsumer>> {
    consumers_with(services, approval_ttl, NotifierSettings::default())
}

/// [`consumers`] with the notifier's settings of this process.
pub fn consumers_with(
    services: DomainServices,
    approval_ttl: Duration,
    notifier: NotifierSettings,
) -> Vec<Arc<dyn LogConsumer>> {
    let mut all = log_consumers(services, approval_ttl, notifier);
    all.extend(alertledger_projections::all());
    all
}

/// What runs behind the API.
#[derive(Clone, Default)]
pub struct BackgroundSettings {
    pub runners: RunnerSettings,
    pub workers: WorkerSettings,
}

/// Everything the application needs.
#[derive(Clone)]
pub struct AppConfig {
    pub api: ApiSettings,
    /// `None`: no projections and no workers run (tests that drive them).
    pub background: Option<BackgroundSettings>,
}

/// The running consumers and workers of a process; stopped when dropped.
pub struct Background {
    consumers: ConsumerDaemon,
    _workers: TimedWorkers,
}

impl Background {
    /// Starts every consumer of [`consumers`] and the time-driven workers.
    pub fn start(
        pool: &PgPool,
        signal: &LogSignal,
        services: DomainServices,
        settings: BackgroundSettings,
    ) -> Self {
        let consumers = ConsumerDaemon::start(
            pool,
            signal,
            consumers_with(
                services.clone(),
                settings.workers.approval_ttl,
                settings.workers.notifier.clone(),
            ),
            &settings.runners,
        );
        let workers = TimedWorkers::start(pool, signal, services, settings.workers);
        Self {
            consumers,
            _workers: workers,
        }
    }

    /// What each consumer's runner is doing now.
    pub fn states(&self) -> Vec<(&'static str, RunnerState)> {
        self.consumers.states()
    }
}

/// Connects to `url` and applies every migration.
pub async fn connect_and_migrate(url: &str) -> anyhow::Result<PgPool> {
    let pool = connect(url, &PoolSettings::default()).await?;
    migrate(&pool)
        .await
        .context("cannot migrate the database")?;
    Ok(pool)
}

/// A built application: its listener bound, its background running, not
/// yet serving requests.
pub struct Application {
    api: alertledger_api::Application,
    pool: PgPool,
    signal: LogSignal,
    background: Option<Background>,
}

impl Application {
    /// Builds the application on `pool` (a migrated database) and binds
    /// `config.api.listen` (port 0 picks a free port).
    pub async fn build(config: AppConfig, pool: PgPool) -> Result<Self, BuildError> {
        let signal = LogSignal::start(pool.clone());
        let services = config.api.services.clone();
        // The workers raise their alarms where the API's /readyz looks.
        let alarms = config.api.alarms.clone();
        let api =
            alertledger_api::Application::build(config.api, pool.clone(), signal.clone()).await?;
        let background = config.background.map(|mut settings| {
            settings.workers.alarms = alarms;
            Background::start(&pool, &signal, services, settings)
        });
        Ok(Self {
            api,
            pool,
            signal,
            background,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.api.port()
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.api.local_addr()
    }

    /// Whether the API speaks TLS itself.
    pub fn is_tls(&self) -> bool {
        self.api.is_tls()
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Tells this process's tailers that something was appended.
    pub fn signal(&self) -> &LogSignal {
        &self.signal
    }

    /// The API's shared state (the demo posts through its ingestor).
    pub fn state(&self) -> &alertledger_api::state::AppState {
        self.api.state()
    }

    /// The background, if this application runs one.
    pub fn background(&self) -> Option<&Background> {
        self.background.as_ref()
    }

    /// Serves until `shutdown` resolves, then drains requests, stops the
    /// background (a batch in flight rolls back) and closes the pool.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let Self {
            api,
            pool,
            background,
            ..
        } = self;
        let served = api.run_until_stopped(shutdown).await;
        drop(background);
        pool.close().await;
        served
    }
}
