//! What can be asked of an approval.

use chrono::{DateTime, Utc};

use crate::runbook::RunbookPin;
use crate::values::{Actor, ApprovalId, IncidentId, Note, Risk, RunbookId, TenantId};

/// A request to open or decide an approval.
#[derive(Debug, Clone, PartialEq)]
pub enum ApprovalCommand {
    /// Ask for approval to run a runbook on an incident.
    RequestApproval {
        approval_id: ApprovalId,
        tenant_id: TenantId,
        runbook_id: RunbookId,
        incident_id: IncidentId,
        risk: Risk,
        requested_by: Actor,
        /// After this moment nobody can decide it; the expirer records the expiry.
        expires_at: DateTime<Utc>,
        /// What is asked to be approved: the runbook's version and content.
        pin: RunbookPin,
    },
    /// Allow the run.
    GrantApproval {
        approver: Actor,
        reason: Option<Note>,
        /// The runbook as it stands now: a grant is refused unless it runs
        /// exactly what the request pinned.
        runbook_now: RunbookPin,
    },
    /// Refuse the run.
    RejectApproval {
        approver: Actor,
        reason: Option<Note>,
    },
    /// Record that nobody decided in time.
    ExpireApproval,
}
