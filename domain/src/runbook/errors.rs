//! Why a runbook command was refused.

/// A runbook rule that a command would break.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunbookError {
    #[error("the runbook already exists")]
    AlreadyDefined,
    #[error("no such runbook")]
    NotDefined,
    #[error("the runbook has been retired")]
    Retired,
    #[error("{why} needs the msp_admin role")]
    NeedsMspAdmin { why: &'static str },
}
