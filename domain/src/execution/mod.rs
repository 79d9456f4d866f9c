//! The execution aggregate: one run of a runbook through SSM — requested,
//! dispatched (with the SSM command id, so a restart never sends it twice),
//! each instance's invocation updates, and one final outcome.

mod aggregate;
mod commands;
mod errors;
mod events;

#[cfg(test)]
mod tests;

pub use aggregate::{Execution, ExecutionStatus, MAX_EXCERPT_CHARS};
pub use commands::ExecutionCommand;
pub use errors::ExecutionError;
pub use events::ExecutionEvent;
