//! The SSM executor: drives every queued execution (`executor_queue`, kept
//! by the dispatcher) through AWS Systems Manager to its outcome.
//!
//! For one execution:
//! 1. `ExecutionDispatching` is recorded *before* SendCommand, with the
//!    comment the command carries (`alertledger execution <id>`).
//! 2. SendCommand; its command id is recorded as `ExecutionDispatched`.
//!    Throttling and transient errors are retried with exponential backoff;
//!    a permanent error fails the execution with the AWS error code.
//! 3. GetCommandInvocation per instance with exponential backoff, recording
//!    each change (status, exit code, output excerpts) until every instance
//!    reached a final state: all succeeded → `ExecutionSucceeded`, else
//!    `ExecutionFailed`; past the timeout (counted from the request) →
//!    `ExecutionTimedOut`.
//!
//! Restart safety: an execution found in "dispatching" (a crash between 1 and
//! the record of 2) is looked up in SSM by its comment (ListCommands); only
//! if SSM has no such command is it sent, so no command is sent twice. One
//! executor runs per database (advisory lock); executions run concurrently.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use alertledger_domain::execution::{Execution, ExecutionCommand, ExecutionStatus};
use alertledger_domain::tenant::Tenant;
use alertledger_domain::values::{InstanceId, InvocationStatus, SsmCommandId};
use alertledger_domain::DomainServices;
use alertledger_eventstore::consumer::try_instance_lock;
use alertledger_eventstore::log::{LogSignal, WakeOn};
use alertledger_eventstore::store::AggregateStore;
use alertledger_ssm::{CommandRequest, SsmError, SsmService, TenantAccount};
use chrono::{DateTime, Utc};
use cqrs_es::AggregateError;
use sqlx::PgPool;
use tokio::task::{JoinHandle, JoinSet};
use uuid::Uuid;

use super::worker_metadata;

/// The executor's lock name and its actor in the audit trail.
pub const EXECUTOR: &str = "ssm-executor";

/// Timing of the executor.
#[derive(Debug, Clone)]
pub struct ExecutorSettings {
    /// How long an execution may take, from its request to its outcome.
    pub timeout: Duration,
    /// First wait between polls of the invocations (and between retries of
    /// a failed call); doubles up to `max_backoff`.
    pub first_backoff: Duration,
    pub max_backoff: Duration,
    /// Fallback interval for looking at the queue (appends wake it sooner).
    pub queue_poll: Duration,
    /// How often a standing-by executor tries to become the active one.
    pub standby_retry: Duration,
}

impl Default for ExecutorSettings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10 * 60),
            first_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            queue_poll: Duration::from_secs(1),
            standby_retry: Duration::from_secs(2),
        }
    }
}

/// The executor; [`SsmExecutor::spawn`] runs it until the handle is aborted.
#[derive(Clone)]
pub struct SsmExecutor {
    pool: PgPool,
    signal: LogSignal,
    ssm: Arc<dyn SsmService>,
    executions: Arc<AggregateStore<Execution>>,
    tenants: Arc<AggregateStore<Tenant>>,
    services: DomainServices,
    settings: ExecutorSettings,
}

/// Why driving one execution stopped before its outcome (it is retried from
/// the queue).
#[derive(Debug, thiserror::Error)]
enum DriveError {
    #[error("event store: {0}")]
    Store(String),
}

impl<E: std::error::Error> From<AggregateError<E>> for DriveError {
    fn from(error: AggregateError<E>) -> Self {
        Self::Store(error.to_string())
    }
}

impl SsmExecutor {
    pub fn new(
        pool: PgPool,
        signal: LogSignal,
        services: DomainServices,
        ssm: Arc<dyn SsmService>,
        settings: ExecutorSettings,
    ) -> Self {
        Self {
            executions: Arc::new(AggregateStore::new(
                pool.clone(),
                services.clone(),
                signal.clone(),
            )),
            tenants: Arc::new(AggregateStore::new(
                pool.clone(),
                services.clone(),
                signal.clone(),
            )),
            pool,
            signal,
            ssm,
            services,
            settings,
        }
    }

    /// Runs in the background; aborting the handle stops every execution
    /// task with it (each resumes safely on the next start).
    pub fn spawn(self) -> JoinHandle<()> {
        tokio::spawn(self.run())
    }

    async fn run(self) {
        let _instance_lock = loop {
            match try_instance_lock(&self.pool, EXECUTOR).await {
                Ok(Some(connection)) => break connection,
                Ok(None) => {}
                Err(error) => tracing::warn!(%error, "ssm executor cannot take its lock"),
            }
            tokio::time::sleep(self.settings.standby_retry).await;
        };
        tracing::info!("ssm executor active");
        let mut wake = self.signal.subscribe(WakeOn::NonReceiptAppends);
        // Dropped with this future: aborting the executor aborts its tasks.
        let mut tasks = JoinSet::new();
        let mut running: HashMap<Uuid, tokio::task::AbortHandle> = HashMap::new();
        loop {
            wake.borrow_and_update();
            while tasks.try_join_next().is_some() {}
            running.retain(|_, task| !task.is_finished());
            match self.queued().await {
                Ok(queued) => {
                    for execution_id in queued {
                        if running.contains_key(&execution_id) {
                            continue;
                        }
                        let executor = self.clone();
                        let task = tasks.spawn(async move {
                            if let Err(error) = executor.drive(execution_id).await {
                                tracing::warn!(execution = %execution_id, %error, "execution interrupted; will resume");
                            }
                        });
                        running.insert(execution_id, task);
                    }
                }
                Err(error) => tracing::warn!(%error, "ssm executor cannot read its queue"),
            }
            let _ = tokio::time::timeout(self.settings.queue_poll, wake.changed()).await;
        }
    }

    async fn queued(&self) -> Result<Vec<Uuid>, sqlx::Error> {
        sqlx::query_scalar("SELECT execution_id FROM executor_queue ORDER BY queued_position")
            .fetch_all(&self.pool)
            .await
    }

    /// Takes execution `execution_id` from wherever it stands to its outcome.
    #[tracing::instrument(skip(self), fields(execution = %execution_id))]
    async fn drive(&self, execution_id: Uuid) -> Result<(), DriveError> {
        let key = execution_id.to_string();
        let execution = self.executions.load(&key).await?;
        if execution.status().is_finished() {
            return Ok(());
        }
        let (Some(tenant_id), Some(requested_at)) =
            (execution.tenant_id(), execution.requested_at())
        else {
            return Ok(());
        };
        let deadline = requested_at
            + chrono::Duration::from_std(self.settings.timeout).unwrap_or(chrono::Duration::MAX);
        let tenant = self.tenants.load(&tenant_id.to_string()).await?;
        let Some(role) = tenant.aws_role().cloned() else {
            return self
                .record(
                    &key,
                    ExecutionCommand::Fail {
                        reason:
                            "the tenant has no AWS role configured (PUT /api/v1/tenants/{id}/aws)"
                                .to_owned(),
                        error_code: Some("NoAwsRole".to_owned()),
                    },
                )
                .await;
        };
        let account = TenantAccount { tenant_id, role };
        let comment = format!("alertledger execution {execution_id}");

        let command_id = match (execution.status(), execution.command_id()) {
            (_, Some(command_id)) => command_id.clone(),
            (ExecutionStatus::Dispatching, None) => {
                // A previous run may have sent it: look before sending.
                let sent_after = requested_at - chrono::Duration::minutes(5);
                match self
                    .with_retries(deadline, || {
                        self.ssm.find_command(&account, &comment, sent_after)
                    })
                    .await
                {
                    Ok(Some(command_id)) => {
                        tracing::info!(command = %command_id, "found the command a previous run sent");
                        self.record(
                            &key,
                            ExecutionCommand::MarkDispatched {
                                command_id: command_id.clone(),
                            },
                        )
                        .await?;
                        command_id
                    }
                    Ok(None) => match self
                        .send(&key, &execution, &account, &comment, deadline)
                        .await?
                    {
                        Some(command_id) => command_id,
                        None => return Ok(()),
                    },
                    Err(error) => return self.fail_on(&key, error).await,
                }
            }
            _ => {
                self.record(
                    &key,
                    ExecutionCommand::MarkDispatching {
                        comment: comment.clone(),
                    },
                )
                .await?;
                match self
                    .send(&key, &execution, &account, &comment, deadline)
                    .await?
                {
                    Some(command_id) => command_id,
                    None => return Ok(()),
                }
            }
        };
        self.poll(&key, &execution, &account, &command_id, deadline)
            .await
    }

    /// SendCommand with retries; records its id, or the failure (`None`).
    async fn send(
        &self,
        key: &str,
        execution: &Execution,
        account: &TenantAccount,
        comment: &str,
        deadline: DateTime<Utc>,
    ) -> Result<Option<SsmCommandId>, DriveError> {
        let Some(request) = Self::command_request(execution, comment) else {
            return Ok(None);
        };
        match self
            .with_retries(deadline, || self.ssm.send_command(account, &request))
            .await
        {
            Ok(command_id) => {
                self.record(
                    key,
                    ExecutionCommand::MarkDispatched {
                        command_id: command_id.clone(),
                    },
                )
                .await?;
                Ok(Some(command_id))
            }
            Err(error) => {
                self.fail_on(key, error).await?;
                Ok(None)
            }
        }
    }

    /// What to send, from the requested execution.
    fn command_request(execution: &Execution, comment: &str) -> Option<CommandRequest> {
        Some(CommandRequest {
            document: execution.document()?.to_owned(),
            parameters: execution.send_parameters()?.clone(),
            instance_ids: execution.instance_ids().to_vec(),
            comment: comment.to_owned(),
        })
    }

    /// Polls every instance until all are final or the deadline passes.
    async fn poll(
        &self,
        key: &str,
        execution: &Execution,
        account: &TenantAccount,
        command_id: &SsmCommandId,
        deadline: DateTime<Utc>,
    ) -> Result<(), DriveError> {
        let instances = execution.instance_ids().to_vec();
        let mut latest: HashMap<InstanceId, (InvocationStatus, Option<i32>)> = instances
            .iter()
            .filter_map(|id| {
                execution
                    .invocation_status(id)
                    .map(|status| (id.clone(), (status, None)))
            })
            .collect();
        let mut delay = self.settings.first_backoff;
        loop {
            for instance_id in &instances {
                if latest
                    .get(instance_id)
                    .is_some_and(|(status, _)| status.is_terminal())
                {
                    continue;
                }
                match self
                    .ssm
                    .command_invocation(account, command_id, instance_id)
                    .await
                {
                    Ok(report) => {
                        latest.insert(instance_id.clone(), (report.status, report.response_code));
                        self.record(
                            key,
                            ExecutionCommand::RecordInvocation {
                                instance_id: instance_id.clone(),
                                status: report.status,
                                response_code: report.response_code,
                                stdout_excerpt: report.stdout,
                                stderr_excerpt: report.stderr,
                            },
                        )
                        .await?;
                    }
                    Err(error @ SsmError::Permanent { .. }) => {
                        return self.fail_on(key, error).await
                    }
                    Err(error) => {
                        tracing::debug!(instance = %instance_id, %error, "invocation not readable yet")
                    }
                }
            }
            let finals: Vec<_> = instances
                .iter()
                .filter_map(|id| {
                    latest
                        .get(id)
                        .filter(|(status, _)| status.is_terminal())
                        .map(|s| (id, s))
                })
                .collect();
            if finals.len() == instances.len() {
                let failures: Vec<String> = finals
                    .iter()
                    .filter(|(_, (status, _))| *status != InvocationStatus::Success)
                    .map(|(id, (status, code))| match code {
                        Some(code) => format!("{id}: {status} (exit code {code})"),
                        None => format!("{id}: {status}"),
                    })
                    .collect();
                let command = if failures.is_empty() {
                    ExecutionCommand::Succeed
                } else {
                    ExecutionCommand::Fail {
                        reason: failures.join("; "),
                        error_code: None,
                    }
                };
                return self.record(key, command).await;
            }
            if self.services.now() >= deadline {
                return self.record(key, ExecutionCommand::TimeOut).await;
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(self.settings.max_backoff);
        }
    }

    /// Calls `call` until it succeeds, fails permanently, or the deadline passes
    /// (then the last error).
    async fn with_retries<T, F, Fut>(
        &self,
        deadline: DateTime<Utc>,
        mut call: F,
    ) -> Result<T, SsmError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, SsmError>>,
    {
        let mut delay = self.settings.first_backoff;
        loop {
            match call().await {
                Ok(value) => return Ok(value),
                Err(error) if error.is_retryable() && self.services.now() < deadline => {
                    tracing::info!(%error, ?delay, "AWS call failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(self.settings.max_backoff);
                }
                Err(error) => return Err(error),
            }
        }
    }

    async fn fail_on(&self, key: &str, error: SsmError) -> Result<(), DriveError> {
        let error_code = match &error {
            SsmError::Permanent { code, .. } | SsmError::Throttled { code } => Some(code.clone()),
            SsmError::Transient { .. } | SsmError::InvocationNotFound => None,
        };
        self.record(
            key,
            ExecutionCommand::Fail {
                reason: error.to_string(),
                error_code,
            },
        )
        .await
    }

    /// Records `command` on the execution; a rule violation (it already
    /// finished) is logged, not retried.
    async fn record(&self, key: &str, command: ExecutionCommand) -> Result<(), DriveError> {
        let metadata = worker_metadata(EXECUTOR, None, Uuid::parse_str(key).ok());
        match self.executions.execute(key, command, metadata).await {
            Ok(()) => Ok(()),
            Err(AggregateError::UserError(error)) => {
                tracing::info!(%error, "execution command refused");
                Ok(())
            }
            Err(error) => Err(error.into()),
        }
    }
}
