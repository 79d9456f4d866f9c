//! The execution's state and rules.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};

use super::{ExecutionCommand, ExecutionError, ExecutionEvent};
use crate::services::DomainServices;
use crate::values::{IncidentId, InstanceId, InvocationStatus, SsmCommandId, TenantId};

/// Output excerpts are cut to this many characters so events stay small.
pub const MAX_EXCERPT_CHARS: usize = 2_500;

/// Where an execution stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionStatus {
    /// Requested, not yet sent to SSM.
    #[default]
    Requested,
    /// SendCommand was (about to be) called; its command id is not known yet.
    Dispatching,
    /// Sent to SSM; invocations are being polled.
    Dispatched,
    /// Every instance succeeded.
    Succeeded,
    /// It failed.
    Failed,
    /// It did not finish in time.
    TimedOut,
    /// It was refused before anything was sent.
    Refused,
}

impl ExecutionStatus {
    /// Whether nothing more can happen to the execution.
    pub fn is_finished(&self) -> bool {
        matches!(
            self,
            Self::Succeeded | Self::Failed | Self::TimedOut | Self::Refused
        )
    }
}

/// One execution, folded from its events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Execution {
    request: Option<Request>,
    status: ExecutionStatus,
    command_id: Option<SsmCommandId>,
    /// The latest status and exit code of each instance that reported.
    invocations: BTreeMap<InstanceId, Invocation>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Request {
    tenant_id: TenantId,
    incident_id: IncidentId,
    instance_ids: Vec<InstanceId>,
    requested_at: DateTime<Utc>,
    document: String,
    /// Every SendCommand parameter, `commands` included.
    parameters: BTreeMap<String, Vec<String>>,
}

impl Request {
    /// What was asked for, with the commands folded into the SendCommand
    /// parameters as SSM takes them.
    fn new(
        tenant_id: TenantId,
        incident_id: IncidentId,
        instance_ids: Vec<InstanceId>,
        requested_at: DateTime<Utc>,
        document: String,
        commands: Vec<String>,
        mut parameters: BTreeMap<String, Vec<String>>,
    ) -> Self {
        if !commands.is_empty() {
            parameters.insert("commands".to_owned(), commands);
        }
        Self {
            tenant_id,
            incident_id,
            instance_ids,
            requested_at,
            document,
            parameters,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Invocation {
    status: InvocationStatus,
    response_code: Option<i32>,
}

impl Execution {
    /// The execution's tenant, once requested.
    pub fn tenant_id(&self) -> Option<TenantId> {
        self.request.as_ref().map(|r| r.tenant_id)
    }

    /// Where it stands.
    pub fn status(&self) -> ExecutionStatus {
        self.status
    }

    /// The SSM command id, once dispatched (to resume polling after a restart).
    pub fn command_id(&self) -> Option<&SsmCommandId> {
        self.command_id.as_ref()
    }

    /// The incident it remedies, once requested.
    pub fn incident_id(&self) -> Option<IncidentId> {
        self.request.as_ref().map(|r| r.incident_id)
    }

    /// When it was requested (the executor's timeout counts from here).
    pub fn requested_at(&self) -> Option<DateTime<Utc>> {
        self.request.as_ref().map(|r| r.requested_at)
    }

    /// The SSM document to run.
    pub fn document(&self) -> Option<&str> {
        self.request.as_ref().map(|r| r.document.as_str())
    }

    /// Every SendCommand parameter, `commands` included.
    pub fn send_parameters(&self) -> Option<&BTreeMap<String, Vec<String>>> {
        self.request.as_ref().map(|r| &r.parameters)
    }

    /// The target instances.
    pub fn instance_ids(&self) -> &[InstanceId] {
        self.request
            .as_ref()
            .map(|r| r.instance_ids.as_slice())
            .unwrap_or_default()
    }

    /// The latest reported status of one instance.
    pub fn invocation_status(&self, instance_id: &InstanceId) -> Option<InvocationStatus> {
        self.invocations.get(instance_id).map(|i| i.status)
    }

    fn requested(&self) -> Result<&Request, ExecutionError> {
        let request = self.request.as_ref().ok_or(ExecutionError::NotRequested)?;
        if self.status.is_finished() {
            return Err(ExecutionError::AlreadyFinished);
        }
        Ok(request)
    }

    fn all_succeeded(&self, request: &Request) -> bool {
        request
            .instance_ids
            .iter()
            .all(|id| self.invocation_status(id) == Some(InvocationStatus::Success))
    }
}

/// Cuts text to [`MAX_EXCERPT_CHARS`] characters, on a character boundary.
fn excerpt(mut text: String) -> String {
    if let Some((cut, _)) = text.char_indices().nth(MAX_EXCERPT_CHARS) {
        text.truncate(cut);
    }
    text
}

impl Aggregate for Execution {
    const TYPE: &'static str = "Execution";
    type Command = ExecutionCommand;
    type Event = ExecutionEvent;
    type Error = ExecutionError;
    type Services = DomainServices;

    async fn handle(
        &mut self,
        command: Self::Command,
        services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let at = services.now();
        let event = match command {
            ExecutionCommand::RequestExecution {
                execution_id,
                tenant_id,
                runbook_id,
                incident_id,
                approval_id,
                document,
                commands,
                parameters,
                instance_ids,
                requested_by,
            } => {
                if self.request.is_some() {
                    return Err(ExecutionError::AlreadyRequested);
                }
                if document.trim().is_empty() {
                    return Err(ExecutionError::EmptyDocument);
                }
                let mut targets: Vec<InstanceId> = Vec::with_capacity(instance_ids.len());
                for id in instance_ids {
                    if !targets.contains(&id) {
                        targets.push(id);
                    }
                }
                if targets.is_empty() {
                    return Err(ExecutionError::NoTargets);
                }
                ExecutionEvent::ExecutionRequested {
                    tenant_id,
                    execution_id,
                    runbook_id,
                    incident_id,
                    approval_id,
                    document,
                    commands,
                    parameters,
                    instance_ids: targets,
                    requested_by,
                    at,
                }
            }
            ExecutionCommand::RefuseExecution {
                execution_id,
                tenant_id,
                runbook_id,
                incident_id,
                approval_id,
                document,
                commands,
                parameters,
                instance_ids,
                requested_by,
                reason,
            } => {
                if self.request.is_some() {
                    return Err(ExecutionError::AlreadyRequested);
                }
                ExecutionEvent::ExecutionRefused {
                    tenant_id,
                    execution_id,
                    runbook_id,
                    incident_id,
                    approval_id,
                    document,
                    commands,
                    parameters,
                    instance_ids,
                    requested_by,
                    reason: excerpt(reason),
                    at,
                }
            }
            ExecutionCommand::MarkDispatching { comment } => {
                let tenant_id = self.requested()?.tenant_id;
                if self.status != ExecutionStatus::Requested {
                    return Err(ExecutionError::AlreadyDispatched);
                }
                ExecutionEvent::ExecutionDispatching {
                    tenant_id,
                    comment,
                    at,
                }
            }
            ExecutionCommand::MarkDispatched { command_id } => {
                let tenant_id = self.requested()?.tenant_id;
                if self.command_id.is_some() {
                    return Err(ExecutionError::AlreadyDispatched);
                }
                ExecutionEvent::ExecutionDispatched {
                    tenant_id,
                    command_id,
                    at,
                }
            }
            ExecutionCommand::RecordInvocation {
                instance_id,
                status,
                response_code,
                stdout_excerpt,
                stderr_excerpt,
            } => {
                let request = self.requested()?;
                if self.command_id.is_none() {
                    return Err(ExecutionError::NotDispatched);
                }
                if !request.instance_ids.contains(&instance_id) {
                    return Err(ExecutionError::UnknownInstance { instance_id });
                }
                let latest = Invocation {
                    status,
                    response_code,
                };
                // Polling repeats itself; only changes are facts.
                if self.invocations.get(&instance_id) == Some(&latest) {
                    return Ok(());
                }
                ExecutionEvent::InvocationUpdated {
                    tenant_id: request.tenant_id,
                    instance_id,
                    status,
                    response_code,
                    stdout_excerpt: excerpt(stdout_excerpt),
                    stderr_excerpt: excerpt(stderr_excerpt),
                    at,
                }
            }
            ExecutionCommand::Succeed => {
                let request = self.requested()?;
                if self.command_id.is_none() {
                    return Err(ExecutionError::NotDispatched);
                }
                if !self.all_succeeded(request) {
                    return Err(ExecutionError::NotAllInstancesSucceeded);
                }
                ExecutionEvent::ExecutionSucceeded {
                    tenant_id: request.tenant_id,
                    incident_id: request.incident_id,
                    at,
                }
            }
            ExecutionCommand::Fail { reason, error_code } => {
                let request = self.requested()?;
                ExecutionEvent::ExecutionFailed {
                    tenant_id: request.tenant_id,
                    incident_id: request.incident_id,
                    reason,
                    error_code,
                    at,
                }
            }
            ExecutionCommand::TimeOut => {
                let request = self.requested()?;
                if self.command_id.is_none() {
                    return Err(ExecutionError::NotDispatched);
                }
                ExecutionEvent::ExecutionTimedOut {
                    tenant_id: request.tenant_id,
                    incident_id: request.incident_id,
                    at,
                }
            }
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            ExecutionEvent::ExecutionRequested {
                tenant_id,
                incident_id,
                instance_ids,
                document,
                commands,
                parameters,
                at,
                ..
            } => {
                self.request = Some(Request::new(
                    tenant_id,
                    incident_id,
                    instance_ids,
                    at,
                    document,
                    commands,
                    parameters,
                ));
                self.status = ExecutionStatus::Requested;
            }
            // A refused execution keeps what was asked for, like a requested one.
            ExecutionEvent::ExecutionRefused {
                tenant_id,
                incident_id,
                instance_ids,
                document,
                commands,
                parameters,
                at,
                ..
            } => {
                self.request = Some(Request::new(
                    tenant_id,
                    incident_id,
                    instance_ids,
                    at,
                    document,
                    commands,
                    parameters,
                ));
                self.status = ExecutionStatus::Refused;
            }
            ExecutionEvent::ExecutionDispatching { .. } => {
                self.status = ExecutionStatus::Dispatching;
            }
            ExecutionEvent::ExecutionDispatched { command_id, .. } => {
                self.command_id = Some(command_id);
                self.status = ExecutionStatus::Dispatched;
            }
            ExecutionEvent::InvocationUpdated {
                instance_id,
                status,
                response_code,
                ..
            } => {
                self.invocations.insert(
                    instance_id,
                    Invocation {
                        status,
                        response_code,
                    },
                );
            }
            ExecutionEvent::ExecutionSucceeded { .. } => self.status = ExecutionStatus::Succeeded,
            ExecutionEvent::ExecutionFailed { .. } => self.status = ExecutionStatus::Failed,
            ExecutionEvent::ExecutionTimedOut { .. } => self.status = ExecutionStatus::TimedOut,
        }
    }
}
