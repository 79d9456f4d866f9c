//! The runbook aggregate: a tenant's remediation for one alert signature
//! (what to run through SSM, how risky it is, whether it runs by itself).
//! Every definition, change and retirement is an event, so the audit log
//! shows who changed a remediation and when. [`eligibility`] holds the rule
//! of when a runbook may run on an incident, [`pin`] what an approval pins.
//! Lowering a runbook's risk or changing what a high-risk runbook runs is
//! for an MSP admin only ([`change_needs_msp_admin`]).

mod aggregate;
mod commands;
pub mod eligibility;
mod errors;
mod events;
pub mod pin;

#[cfg(test)]
mod tests;

pub use aggregate::{change_needs_msp_admin, Runbook};
pub use commands::{RunbookCommand, RunbookSpec};
pub use eligibility::{runnable_on, target_instances, NotRunnable};
pub use errors::RunbookError;
pub use events::RunbookEvent;
pub use pin::{PinMismatch, RunbookContent, RunbookPin};
