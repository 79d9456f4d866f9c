//! Maintenance windows and silences (issue 19): a tenant's periods during
//! which matching alerts are recorded as suppressed instead of opening or
//! joining incidents. [`matcher`] reads Alertmanager-style matchers,
//! [`schedule`] evaluates one-off and recurring (cron, RRULE) periods in an
//! IANA zone, [`spec`] holds a window's checked definition. Every change is
//! an event with its actor; the end of an occurrence that held alerts is an
//! event too (`MaintenanceWindowEnded`), so the correlator's later decisions
//! come from the log alone. [`status`] decides when a window reports that
//! it came into or went out of force (`MaintenanceWindowStatusChanged`, one
//! per occurrence boundary, for the live feed).

mod aggregate;
mod commands;
mod errors;
mod events;
pub mod matcher;
pub mod schedule;
pub mod spec;
pub mod status;

#[cfg(test)]
mod tests;

pub use aggregate::MaintenanceWindow;
pub use commands::MaintenanceWindowCommand;
pub use errors::MaintenanceWindowError;
pub use events::MaintenanceWindowEvent;
pub use matcher::{AlertFacts, Matcher, MatcherError};
pub use schedule::{Occurrence, Schedule, ScheduleError};
pub use spec::{SpecError, SpecFields, WindowSpec};
pub use status::MISSED_HORIZON;
