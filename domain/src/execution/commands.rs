//! What can be asked of an execution.

use std::collections::BTreeMap;

use crate::values::{
    Actor, ApprovalId, ExecutionId, IncidentId, InstanceId, InvocationStatus, RunbookId,
    SsmCommandId, TenantId,
};

/// A request to start or record progress of an execution.
#[derive(Debug, Clone, PartialEq)]
pub enum ExecutionCommand {
    /// Ask for a runbook to run on the given instances.
    RequestExecution {
        execution_id: ExecutionId,
        tenant_id: TenantId,
        runbook_id: RunbookId,
        incident_id: IncidentId,
        /// The approval that allowed it (none for low risk).
        approval_id: Option<ApprovalId>,
        /// The SSM document, e.g. `AWS-RunShellScript`.
        document: String,
        commands: Vec<String>,
        /// Document parameters besides `commands`.
        parameters: BTreeMap<String, Vec<String>>,
        instance_ids: Vec<InstanceId>,
        requested_by: Actor,
    },
    /// Record that a run was refused before anything was sent (e.g. the
    /// runbook changed since its approval was requested).
    RefuseExecution {
        execution_id: ExecutionId,
        tenant_id: TenantId,
        runbook_id: RunbookId,
        incident_id: IncidentId,
        approval_id: Option<ApprovalId>,
        /// What would have run: the runbook as it stands.
        document: String,
        commands: Vec<String>,
        parameters: BTreeMap<String, Vec<String>>,
        instance_ids: Vec<InstanceId>,
        requested_by: Actor,
        reason: String,
    },
    /// SendCommand is about to be called with this comment.
    MarkDispatching { comment: String },
    /// SSM accepted the command (`SendCommand`).
    MarkDispatched { command_id: SsmCommandId },
    /// One instance's invocation was polled.
    RecordInvocation {
        instance_id: InstanceId,
        status: InvocationStatus,
        response_code: Option<i32>,
        stdout_excerpt: String,
        stderr_excerpt: String,
    },
    /// Every instance succeeded.
    Succeed,
    /// The run failed (also before dispatch, e.g. AWS refused `SendCommand`).
    Fail {
        reason: String,
        error_code: Option<String>,
    },
    /// The run did not finish in time.
    TimeOut,
}
