//! The approval aggregate: a request to run a medium- or high-risk runbook on
//! an incident, decided once (granted, rejected or expired) by someone other
//! than the requester whose role is senior enough for the risk.

mod aggregate;
mod commands;
mod errors;
mod events;

#[cfg(test)]
mod tests;

pub use aggregate::{Approval, ApprovalStatus};
pub use commands::ApprovalCommand;
pub use errors::ApprovalError;
pub use events::ApprovalEvent;
