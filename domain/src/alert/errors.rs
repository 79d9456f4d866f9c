//! Why an alert command was refused.

use crate::values::{IncidentId, WindowId};

/// An alert rule that a command would break.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlertError {
    #[error("the alert has not been received")]
    NotReceived,
    #[error("the alert has already been received")]
    AlreadyReceived,
    #[error("the alert is already acknowledged")]
    AlreadyAcknowledged,
    #[error("the alert is already correlated to incident {incident_id}")]
    AlreadyCorrelated { incident_id: IncidentId },
    #[error("the alert is already resolved")]
    AlreadyResolved,
    #[error("the alert is already suppressed by window {window_id}")]
    AlreadySuppressed { window_id: WindowId },
    #[error("the alert is not suppressed by window {window_id}")]
    NotSuppressed { window_id: WindowId },
}
