//! The runbook aggregate: a tenant's remediation for one alert signature
//! (what to run through SSM, how risky it is, whether it runs by itself).
//! Every definition, change and retirement is an event, so the audit log
//! shows who changed a remediation and when.

mod aggregate;
mod commands;
mod errors;
mod events;

#[cfg(test)]
mod tests;

pub use aggregate::Runbook;
pub use commands::{RunbookCommand, RunbookSpec};
pub use errors::RunbookError;
pub use events::RunbookEvent;
