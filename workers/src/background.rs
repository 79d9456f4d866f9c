//! Every log consumer a service process runs: the read-model projectors and
//! the workers (correlator, sealer), and the audit checkpointer. Each runs as its own task under its own advisory lock, so in
//! a fleet of processes exactly one instance of each is active and the others
//! stand by.

use std::sync::Arc;

use alertledger_domain::DomainServices;
use alertledger_projections::log::LogSignal;
use alertledger_projections::projector::{
    Projection, ProjectorRunner, RunnerSettings, RunnerState,
};
use alertledger_projections::read_models;
use alertledger_seal::CheckpointSigner;
use sqlx::PgPool;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::correlator::Correlator;
use crate::sealer::checkpointer::{CheckpointSettings, Checkpointer};
use crate::sealer::Sealer;

/// Every projection and worker, in start order.
pub fn consumers(services: DomainServices) -> Vec<Arc<dyn Projection>> {
    let mut all: Vec<Arc<dyn Projection>> =
        vec![Arc::new(Correlator::new(services)), Arc::new(Sealer::new())];
    all.extend(read_models::all());
    all
}

/// The names of [`consumers`], for status pages.
pub fn consumer_names() -> Vec<&'static str> {
    consumers(DomainServices::system())
        .iter()
        .map(|consumer| consumer.name())
        .collect()
}

/// The running consumers of one process; stopped when dropped.
pub struct Background {
    runners: Vec<(&'static str, JoinHandle<()>, watch::Receiver<RunnerState>)>,
    checkpointer: Option<JoinHandle<()>>,
}

impl Background {
    /// Starts one runner per consumer.
    pub fn start(
        pool: &PgPool,
        signal: &LogSignal,
        services: DomainServices,
        settings: RunnerSettings,
    ) -> Self {
        let runners = consumers(services)
            .into_iter()
            .map(|consumer| {
                let runner =
                    ProjectorRunner::new(pool.clone(), signal.clone(), consumer, settings.clone());
                let name = runner.name();
                let (handle, state) = runner.spawn();
                (name, handle, state)
            })
            .collect();
        Self {
            runners,
            checkpointer: None,
        }
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
        if let Some(previous) = self.checkpointer.replace(tokio::spawn(checkpointer.run())) {
            previous.abort();
        }
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
        if let Some(checkpointer) = &self.checkpointer {
            checkpointer.abort();
        }
    }
}
