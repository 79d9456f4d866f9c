//! Runs a list of consumers in the background of a process, one
//! [`ConsumerRunner`] task each (Marten calls this the async daemon).

use std::sync::Arc;

use sqlx::PgPool;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{ConsumerRunner, LogConsumer, RunnerSettings, RunnerState};
use crate::log::LogSignal;

/// The running consumers of one process; stopped when dropped.
pub struct ConsumerDaemon {
    runners: Vec<(&'static str, JoinHandle<()>, watch::Receiver<RunnerState>)>,
}

impl ConsumerDaemon {
    /// Starts one runner per consumer, in the order given. Each waits for its
    /// advisory lock, so in a fleet of processes exactly one instance of each
    /// consumer is active and the others stand by.
    pub fn start(
        pool: &PgPool,
        signal: &LogSignal,
        consumers: Vec<Arc<dyn LogConsumer>>,
        settings: &RunnerSettings,
    ) -> Self {
        let runners = consumers
            .into_iter()
            .map(|consumer| {
                let runner =
                    ConsumerRunner::new(pool.clone(), signal.clone(), consumer, settings.clone());
                let name = runner.name();
                let (handle, state) = runner.spawn();
                (name, handle, state)
            })
            .collect();
        Self { runners }
    }

    /// What each runner is doing now.
    pub fn states(&self) -> Vec<(&'static str, RunnerState)> {
        self.runners
            .iter()
            .map(|(name, _, state)| (*name, state.borrow().clone()))
            .collect()
    }
}

impl Drop for ConsumerDaemon {
    fn drop(&mut self) {
        // Batches are transactional: aborting between or inside one loses nothing.
        for (_, handle, _) in &self.runners {
            handle.abort();
        }
    }
}
