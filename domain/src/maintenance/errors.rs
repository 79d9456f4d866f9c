//! Why a maintenance window refused a command.

/// A rule a command broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MaintenanceWindowError {
    #[error("no such maintenance window")]
    NotCreated,
    #[error("the maintenance window already exists")]
    AlreadyCreated,
    #[error("the maintenance window was deleted")]
    Deleted,
    #[error("the end of this occurrence is already recorded")]
    EndAlreadyRecorded,
    #[error("the occurrence has not ended yet")]
    NotEnded,
    #[error("no occurrence boundary is due")]
    NoBoundaryDue,
}
