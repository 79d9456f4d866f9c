//! What happened to an execution. Variant names are stored and permanent.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use crate::values::{
    Actor, ApprovalId, ExecutionId, IncidentId, InstanceId, InvocationStatus, RunbookId,
    SsmCommandId, TenantId,
};

/// A fact about an execution. Outcomes repeat the incident so the executor
/// can resolve or escalate it from the event alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ExecutionEvent {
    /// A runbook run was requested.
    ExecutionRequested {
        tenant_id: TenantId,
        execution_id: ExecutionId,
        runbook_id: RunbookId,
        incident_id: IncidentId,
        approval_id: Option<ApprovalId>,
        document: String,
        commands: Vec<String>,
        /// Document parameters besides `commands` (absent in older events).
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        parameters: BTreeMap<String, Vec<String>>,
        instance_ids: Vec<InstanceId>,
        requested_by: Actor,
        at: DateTime<Utc>,
    },
    /// A run was refused before anything was sent to SSM; `reason` says why
    /// (e.g. "runbook changed since approval was requested: version 3 → 4
    /// (commands changed)"). The fields say what would have run.
    ExecutionRefused {
        tenant_id: TenantId,
        execution_id: ExecutionId,
        runbook_id: RunbookId,
        incident_id: IncidentId,
        approval_id: Option<ApprovalId>,
        document: String,
        commands: Vec<String>,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        parameters: BTreeMap<String, Vec<String>>,
        instance_ids: Vec<InstanceId>,
        requested_by: Actor,
        reason: String,
        at: DateTime<Utc>,
    },
    /// The executor is about to call SendCommand. Recorded first, so that
    /// after a crash an execution stuck here is looked up in SSM (by the
    /// command's comment) instead of being sent a second time.
    ExecutionDispatching {
        tenant_id: TenantId,
        /// The comment the command carries, naming the execution.
        comment: String,
        at: DateTime<Utc>,
    },
    /// SSM accepted the command.
    ExecutionDispatched {
        tenant_id: TenantId,
        command_id: SsmCommandId,
        at: DateTime<Utc>,
    },
    /// One instance's invocation changed (excerpts are at most 2,500 characters).
    InvocationUpdated {
        tenant_id: TenantId,
        instance_id: InstanceId,
        status: InvocationStatus,
        response_code: Option<i32>,
        stdout_excerpt: String,
        stderr_excerpt: String,
        at: DateTime<Utc>,
    },
    /// Every instance succeeded.
    ExecutionSucceeded {
        tenant_id: TenantId,
        incident_id: IncidentId,
        at: DateTime<Utc>,
    },
    /// The run failed.
    ExecutionFailed {
        tenant_id: TenantId,
        incident_id: IncidentId,
        reason: String,
        error_code: Option<String>,
        at: DateTime<Utc>,
    },
    /// The run did not finish in time.
    ExecutionTimedOut {
        tenant_id: TenantId,
        incident_id: IncidentId,
        at: DateTime<Utc>,
    },
}

impl ExecutionEvent {
    /// The tenant the event belongs to.
    pub fn tenant_id(&self) -> TenantId {
        match self {
            Self::ExecutionRequested { tenant_id, .. }
            | Self::ExecutionRefused { tenant_id, .. }
            | Self::ExecutionDispatching { tenant_id, .. }
            | Self::ExecutionDispatched { tenant_id, .. }
            | Self::InvocationUpdated { tenant_id, .. }
            | Self::ExecutionSucceeded { tenant_id, .. }
            | Self::ExecutionFailed { tenant_id, .. }
            | Self::ExecutionTimedOut { tenant_id, .. } => *tenant_id,
        }
    }
}

crate::event_types::event_type_names!(ExecutionEvent {
    ExecutionRequested => REQUESTED,
    ExecutionRefused => REFUSED,
    ExecutionDispatching => DISPATCHING,
    ExecutionDispatched => DISPATCHED,
    InvocationUpdated => INVOCATION_UPDATED,
    ExecutionSucceeded => SUCCEEDED,
    ExecutionFailed => FAILED,
    ExecutionTimedOut => TIMED_OUT,
});

impl DomainEvent for ExecutionEvent {
    fn event_type(&self) -> String {
        self.type_name().to_owned()
    }

    fn event_version(&self) -> String {
        crate::EVENT_VERSION.to_owned()
    }
}
