//! The incident aggregate: a group of correlated alerts and its lifecycle
//! (new → acknowledged → in progress → escalated → resolved, and reopened),
//! with the acknowledgement and resolution times MTTA/MTTR are built from.

mod aggregate;
mod commands;
mod errors;
mod events;
mod status;

#[cfg(test)]
mod tests;

pub use aggregate::Incident;
pub use commands::IncidentCommand;
pub use errors::IncidentError;
pub use events::IncidentEvent;
pub use status::{IncidentStatus, Resolution};
