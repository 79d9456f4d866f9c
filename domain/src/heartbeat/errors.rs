//! Why a heartbeat refused a command.

/// A heartbeat rule a command would break.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeartbeatError {
    #[error("the heartbeat is not registered")]
    NotRegistered,
    #[error("the heartbeat is already registered")]
    AlreadyRegistered,
    #[error("the heartbeat is already recorded as missed")]
    AlreadyMissed,
    #[error("the heartbeat is not recorded as missed")]
    NotMissed,
    #[error("the heartbeat is paused")]
    Paused,
}
