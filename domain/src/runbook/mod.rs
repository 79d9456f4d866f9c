//! The runbook aggregate: a tenant's remediation for one alert signature
//! (what to run through SSM, how risky it is, whether it runs by itself).
//! Every definition, change and retirement is an event, so the audit log
//! shows who changed a remediation and when. [`eligibility`] holds the rule
//! of when a runbook may run on an incident.

mod aggregate;
mod commands;
pub mod eligibility;
mod errors;
mod events;

#[cfg(test)]
mod tests;

pub use aggregate::Runbook;
pub use commands::{RunbookCommand, RunbookSpec};
pub use eligibility::{runnable_on, target_instances, NotRunnable};
pub use errors::RunbookError;
pub use events::RunbookEvent;
