//! What the workers contribute to a service process: their log consumers
//! (correlator, runbook dispatcher, escalation timers, notifier, sealer), to
//! run beside the read models under the consumer runtime, and the workers
//! driven by time rather than the log (SSM executor, approval expirer, window
//! closer, escalator, heartbeat checker, flap settler, notification delivery,
//! audit checkpointer). The
//! application builder composes both with the read models; nothing here
//! names a read model.

use alertledger_eventstore::alarms::Alarms;
use std::sync::Arc;
use std::time::Duration;

use alertledger_domain::DomainServices;
use alertledger_eventstore::consumer::LogConsumer;
use alertledger_eventstore::log::LogSignal;
use alertledger_seal::CheckpointSigner;
use alertledger_ssm::SsmService;
use sqlx::PgPool;
use tokio::task::JoinHandle;

use crate::correlator::Correlator;
use crate::correlator::FlapSettler;
use crate::escalation::{EscalationTimers, Escalator};
use crate::heartbeat::HeartbeatChecker;
use crate::maintenance::WindowCloser;
use crate::notifier::{DeliveryWorker, Notifier, NotifierDelivery, NotifierSettings};
use crate::remediation::{
    ApprovalExpirer, ExecutorSettings, RunbookDispatcher, SsmExecutor, DEFAULT_APPROVAL_TTL,
};
use crate::sealer::checkpointer::{CheckpointSettings, Checkpointer};
use crate::sealer::Sealer;

/// The workers' log consumers, in start order.
pub fn log_consumers(
    services: DomainServices,
    approval_ttl: Duration,
    notifier: NotifierSettings,
) -> Vec<Arc<dyn LogConsumer>> {
    vec![
        Arc::new(Correlator::new(services.clone())),
        Arc::new(RunbookDispatcher::new(services.clone(), approval_ttl)),
        Arc::new(EscalationTimers),
        Arc::new(Notifier::new(services, notifier)),
        Arc::new(Sealer::new()),
    ]
}

/// How the workers of a process run.
#[derive(Clone)]
pub struct WorkerSettings {
    /// How long an approval request stays decidable.
    pub approval_ttl: Duration,
    /// How often the expirer looks for overdue approvals.
    pub expiry_check: Duration,
    /// How often the window closer looks for maintenance windows that ended.
    pub window_check: Duration,
    /// How often the escalator looks for due escalation steps.
    pub escalation_check: Duration,
    /// The escalator's clock, when it is not the process's (tests move it
    /// to pass a level's delay without waiting).
    pub escalation_services: Option<DomainServices>,
    /// How often the heartbeat checker looks for heartbeats past their
    /// deadline (at most 5 s, so detection comes within timeout + 10 s).
    pub heartbeat_check: Duration,
    /// The heartbeat checker's clock, when it is not the process's (tests
    /// move it past a deadline without waiting for it).
    pub heartbeat_services: Option<DomainServices>,
    /// How often the flap settler looks for flapping keys that became stable.
    pub flap_check: Duration,
    pub executor: ExecutorSettings,
    /// The SSM the executor calls; `None` runs no executor (executions then
    /// wait in the queue for a process that has one).
    pub ssm: Option<Arc<dyn SsmService>>,
    /// Signs checkpoints of the sealed log (`None`: no checkpointer runs).
    pub audit_signer: Option<Arc<CheckpointSigner>>,
    pub checkpoints: CheckpointSettings,
    /// Where a worker that stops on purpose raises its alarm (shared with
    /// the API's `/readyz` by `Application::build`).
    pub alarms: Alarms,
    /// How the notifier decides (coalescing, links) and retries.
    pub notifier: NotifierSettings,
    /// What delivering notifications needs (`None`: requests wait in the
    /// outbox for a process that has it).
    pub notifier_delivery: Option<NotifierDelivery>,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            approval_ttl: DEFAULT_APPROVAL_TTL,
            expiry_check: Duration::from_secs(10),
            window_check: Duration::from_secs(2),
            escalation_check: Duration::from_secs(5),
            escalation_services: None,
            heartbeat_check: Duration::from_secs(2),
            heartbeat_services: None,
            flap_check: Duration::from_secs(5),
            executor: ExecutorSettings::default(),
            ssm: None,
            audit_signer: None,
            checkpoints: CheckpointSettings::default(),
            alarms: Alarms::default(),
            notifier: NotifierSettings::default(),
            notifier_delivery: None,
        }
    }
}

/// The running time-driven workers of one process; stopped when dropped.
pub struct TimedWorkers {
    handles: Vec<JoinHandle<()>>,
}

impl TimedWorkers {
    /// Starts the approval expirer, the SSM executor when there is an SSM to
    /// call, and the checkpointer when there is a signer.
    pub fn start(
        pool: &PgPool,
        signal: &LogSignal,
        services: DomainServices,
        settings: WorkerSettings,
    ) -> Self {
        let mut handles = vec![ApprovalExpirer::new(
            pool.clone(),
            signal.clone(),
            services.clone(),
            settings.expiry_check,
        )
        .spawn()];
        handles.push(
            WindowCloser::new(
                pool.clone(),
                signal.clone(),
                services.clone(),
                settings.window_check,
            )
            .spawn(),
        );
        handles.push(
            Escalator::new(
                pool.clone(),
                signal.clone(),
                settings
                    .escalation_services
                    .clone()
                    .unwrap_or_else(|| services.clone()),
                settings.escalation_check,
            )
            .spawn(),
        );
        handles.push(
            HeartbeatChecker::new(
                pool.clone(),
                signal.clone(),
                settings
                    .heartbeat_services
                    .clone()
                    .unwrap_or_else(|| services.clone()),
                settings.heartbeat_check,
            )
            .spawn(),
        );
        handles.push(
            FlapSettler::new(
                pool.clone(),
                signal.clone(),
                services.clone(),
                settings.flap_check,
            )
            .spawn(),
        );
        if let Some(delivery) = settings.notifier_delivery {
            handles.push(
                DeliveryWorker::new(
                    pool.clone(),
                    signal.clone(),
                    services.clone(),
                    delivery,
                    settings.notifier.clone(),
                )
                .spawn(),
            );
        }
        if let Some(ssm) = settings.ssm {
            handles.push(
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
        if let Some(signer) = settings.audit_signer {
            let checkpointer = Checkpointer::with_alarms(
                pool.clone(),
                signer,
                settings.checkpoints,
                settings.alarms.clone(),
            );
            handles.push(tokio::spawn(checkpointer.run()));
        }
        Self { handles }
    }
}

impl Drop for TimedWorkers {
    fn drop(&mut self) {
        // Executions resume from their recorded state on the next start;
        // checkpoints are signed anew.
        for handle in &self.handles {
            handle.abort();
        }
    }
}
