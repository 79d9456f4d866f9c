//! What happened to an approval. Variant names are stored and permanent.

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use crate::runbook::RunbookPin;
use crate::values::{Actor, ApprovalId, IncidentId, Note, Risk, RunbookId, TenantId};

/// A fact about an approval. Decisions repeat the runbook and incident so the
/// dispatcher can act on the event alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ApprovalEvent {
    /// Approval to run a runbook was requested.
    ApprovalRequested {
        tenant_id: TenantId,
        approval_id: ApprovalId,
        runbook_id: RunbookId,
        incident_id: IncidentId,
        risk: Risk,
        requested_by: Actor,
        expires_at: DateTime<Utc>,
        at: DateTime<Utc>,
        /// The runbook version and content asked to be approved. Absent in
        /// requests recorded before approvals pinned it: those can no longer
        /// be granted, and a grant of one runs nothing.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pin: Option<RunbookPin>,
    },
    /// The run was approved.
    ApprovalGranted {
        tenant_id: TenantId,
        runbook_id: RunbookId,
        incident_id: IncidentId,
        approver: Actor,
        reason: Option<Note>,
        at: DateTime<Utc>,
    },
    /// The run was refused.
    ApprovalRejected {
        tenant_id: TenantId,
        runbook_id: RunbookId,
        incident_id: IncidentId,
        approver: Actor,
        reason: Option<Note>,
        at: DateTime<Utc>,
    },
    /// Nobody decided in time.
    ApprovalExpired {
        tenant_id: TenantId,
        at: DateTime<Utc>,
    },
}

impl ApprovalEvent {
    /// The tenant the event belongs to.
    pub fn tenant_id(&self) -> TenantId {
        match self {
            Self::ApprovalRequested { tenant_id, .. }
            | Self::ApprovalGranted { tenant_id, .. }
            | Self::ApprovalRejected { tenant_id, .. }
            | Self::ApprovalExpired { tenant_id, .. } => *tenant_id,
        }
    }
}

crate::event_types::event_type_names!(ApprovalEvent {
    ApprovalRequested => REQUESTED,
    ApprovalGranted => GRANTED,
    ApprovalRejected => REJECTED,
    ApprovalExpired => EXPIRED,
});

impl DomainEvent for ApprovalEvent {
    fn event_type(&self) -> String {
        self.type_name().to_owned()
    }

    fn event_version(&self) -> String {
        crate::EVENT_VERSION.to_owned()
    }
}
