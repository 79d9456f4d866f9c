//! Every log consumer a service process runs: the read-model projectors and
//! the workers (correlator, runbook dispatcher, sealer), plus the SSM
//! executor, the approval expirer and the audit checkpointer. Each runs as its own task under its own advisory lock, so in
//! a fleet of processes exactly one instance of each is active and the others
//! stand by.

use std::sync::Arc;
use std::time::Duration;

use alertledger_domain::DomainServices;
use alertledger_projections::log::LogSignal;
use alertledger_projections::projector::{
    Projection, ProjectorRunner, RunnerSettings, RunnerState,
};
use alertledger_projections::read_models;
use alertledger_seal::CheckpointSigner;
use alertledger_ssm::SsmService;
use sqlx::PgPool;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::correlator::Correlator;
use crate::remediation::{
    ApprovalExpirer, ExecutorSettings, RunbookDispatcher, SsmExecutor, DEFAULT_APPROVAL_TTL,
};
use crate::sealer::checkpointer::{CheckpointSettings, Checkpointer};
use crate::sealer::Sealer;

/// Every log consumer (projections and the workers that are projectors), in
/// start order.
pub fn consumers(services: DomainServices, approval_ttl: Duration) -> Vec<Arc<dyn Projection>> {
    let mut all: Vec<Arc<dyn Projection>> = vec![
        Arc::new(Correlator::new(services.clone())),
        Arc::new(RunbookDispatcher::new(services, approval_ttl)),
        Arc::new(Sealer::new()),
    ];
    all.extend(read_models::all());
    all
}

/// The names of [`consumers`], for status pages.
pub fn consumer_names() -> Vec<&'static str> {
    consumers(DomainServices::system(), DEFAULT_APPROVAL_TTL)
        .iter()
        .map(|consumer| consumer.name())
        .collect()
}

/// How the background of a process runs.
#[derive(Clone)]
pub struct BackgroundSettings {
    pub runners: RunnerSettings,
    /// How long an approval request stays decidable.
    pub approval_ttl: Duration,
    /// How often the expirer looks for overdue approvals.
    pub expiry_check: Duration,
    pub executor: ExecutorSettings,
    /// The SSM the executor calls; `None` runs no executor (executions then
    /// wait in the queue for a process that has one).
    pub ssm: Option<Arc<dyn SsmService>>,
}

impl Default for BackgroundSettings {
    fn default() -> Self {
        Self {
            runners: RunnerSettings::default(),
            approval_ttl: DEFAULT_APPROVAL_TTL,
            expiry_check: Duration::from_secs(10),
            executor: ExecutorSettings::default(),
            ssm: None,
        }
    }
}

/// The running consumers and workers of one process; stopped when dropped.
pub struct Background {
    runners: Vec<(&'static str, JoinHandle<()>, watch::Receiver<RunnerState>)>,
    /// The SSM executor, the approval expirer and the audit checkpointer.
    workers: Vec<JoinHandle<()>>,
}

impl Background {
    /// Starts one runner per consumer, the approval expirer, and the SSM
    /// executor when there is an SSM to call.
    pub fn start(
        pool: &PgPool,
        signal: &LogSignal,
        services: DomainServices,
        settings: BackgroundSettings,
    ) -> Self {
        let runners = consumers(services.clone(), settings.approval_ttl)
            .into_iter()
            .map(|consumer| {
                let runner = ProjectorRunner::new(
                    pool.clone(),
                    signal.clone(),
                    consumer,
                    settings.runners.clone(),
                );
                let name = runner.name();
                let (handle, state) = runner.spawn();
                (name, handle, state)
            })
            .collect();
        let mut workers = vec![ApprovalExpirer::new(
            pool.clone(),
            signal.clone(),
            services.clone(),
            settings.expiry_check,
        )
        .spawn()];
        if let Some(ssm) = settings.ssm {
            workers.push(
                SsmExecutor::new(
                    pool.clone(),
                    signal.clone(),
                    services,
                    ssm,
                    settings.executor,
                )
                .spawn(),
            );
        }
        Self { runners, workers }
    }

    /// Also signs checkpoints of the sealed log with `signer` (every service
    /// process does; an advisory lock keeps the chain single).
    pub fn with_audit_checkpoints(
        mut self,
        pool: &PgPool,
        signer: Arc<CheckpointSigner>,
        settings: CheckpointSettings,
    ) -> Self {
        let checkpointer = Checkpointer::new(pool.clone(), signer, settings);
        self.workers.push(tokio::spawn(checkpointer.run()));
        self
    }

    /// What each runner is doing now.
    pub fn states(&self) -> Vec<(&'static str, RunnerState)> {
        self.runners
            .iter()
            .map(|(name, _, state)| (*name, state.borrow().clone()))
            .collect()
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        // Batches are transactional: aborting between or inside one loses nothing.
        for (_, handle, _) in &self.runners {
            handle.abort();
        }
        // Executions resume from their recorded state on the next start;
        // checkpoints are signed anew.
        for handle in &self.workers {
            handle.abort();
        }
    }
}
