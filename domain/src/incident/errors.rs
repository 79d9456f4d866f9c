//! Why an incident command was refused.

use crate::values::AlertId;

/// An incident rule that a command would break.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IncidentError {
    #[error("the incident has not been opened")]
    NotOpened,
    #[error("the incident is already open")]
    AlreadyOpened,
    #[error("alert {alert_id} is already attached")]
    AlertAlreadyAttached { alert_id: AlertId },
    #[error("alert {alert_id} is not attached to this incident")]
    UnknownAlert { alert_id: AlertId },
    #[error("the incident is resolved; alerts go to a new incident")]
    IncidentResolved,
    #[error("the incident is already acknowledged")]
    AlreadyAcknowledged,
    #[error("a resolved incident cannot be acknowledged")]
    CannotAcknowledgeResolved,
    #[error("a resolved incident cannot be assigned")]
    CannotAssignResolved,
    #[error("a resolved incident cannot be escalated")]
    CannotEscalateResolved,
    #[error("the incident is already resolved")]
    AlreadyResolved,
    #[error("only a resolved incident can be reopened")]
    NotResolved,
    #[error("the incident is already marked flapping")]
    AlreadyFlapping,
    #[error("the incident is not flapping")]
    NotFlapping,
}
