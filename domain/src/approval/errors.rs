//! Why an approval command was refused.

use chrono::{DateTime, Utc};

use super::ApprovalStatus;
use crate::runbook::PinMismatch;
use crate::values::{Risk, Role};

/// An approval rule that a command would break.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApprovalError {
    #[error("no approval has been requested")]
    NotRequested,
    #[error("the approval has already been requested")]
    AlreadyRequested,
    #[error("low-risk runbooks need no approval")]
    ApprovalNotNeeded,
    #[error("the expiry time must be in the future")]
    ExpiresInPast,
    #[error("nobody may decide an approval they requested")]
    SelfApproval,
    #[error("role {role} may not decide {risk}-risk approvals")]
    InsufficientRole { role: Role, risk: Risk },
    #[error("the approval has expired")]
    Expired,
    #[error("the approval is already decided ({status})")]
    AlreadyDecided { status: ApprovalStatus },
    #[error("{0}")]
    RunbookChanged(PinMismatch),
    #[error("the approval was requested before approvals pinned the runbook's content; request it again")]
    NotPinned,
    #[error("the approval does not expire before {expires_at}")]
    NotYetExpired { expires_at: DateTime<Utc> },
}
