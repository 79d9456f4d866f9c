//! Why an execution command was refused.

use crate::values::InstanceId;

/// An execution rule that a command would break.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecutionError {
    #[error("no execution has been requested")]
    NotRequested,
    #[error("the execution has already been requested")]
    AlreadyRequested,
    #[error("an execution needs at least one target instance")]
    NoTargets,
    #[error("an execution needs an SSM document name")]
    EmptyDocument,
    #[error("the execution has already been dispatched")]
    AlreadyDispatched,
    #[error("the execution has not been dispatched")]
    NotDispatched,
    #[error("instance {instance_id} is not a target of this execution")]
    UnknownInstance { instance_id: InstanceId },
    #[error("not every target instance has succeeded")]
    NotAllInstancesSucceeded,
    #[error("the execution has already finished")]
    AlreadyFinished,
}
