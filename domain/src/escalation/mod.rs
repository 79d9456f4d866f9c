//! Escalation policies and on-call schedules (issue 18).
//!
//! - [`schedule`]: on-call schedules (a daily or weekly rotation at a local
//!   time in an IANA zone, ordered participants each with their channel,
//!   overrides) and the pure answer to "who is on call at this instant";
//! - [`policy`]: escalation policies (ordered levels with targets and a
//!   delay, repeats) and the order of their steps;
//! - [`setup`]: the `EscalationSetup` aggregate, a tenant's schedules and
//!   policies (aggregate id = the tenant id); every change is an event;
//! - [`run`]: the `Escalation` aggregate, one policy run for one incident:
//!   started, each level reached (with its reason and the targets resolved
//!   then), stopped.
//!
//! Deadlines are never held here: the escalation worker derives them from
//! the recorded events (`EscalationStarted` is due at once, each
//! `EscalationLevelReached` records when the next step is due).

pub mod policy;
pub mod run;
pub mod schedule;
pub mod setup;

#[cfg(test)]
mod tests;

pub use policy::{minutes_text, Level, LevelTargets, PolicyFields, PolicySpec, Step};
pub use run::{
    Escalation, EscalationCause, EscalationCommand, EscalationError, EscalationEvent,
    EscalationTarget, ReachedLevel, RunState, StopReason,
};
pub use schedule::{
    local_date, Handoff, OnCall, OverrideSpec, Participant, RotationFields, ScheduleFields,
    ScheduleSpec,
};
pub use setup::{
    EscalationSetup, EscalationSetupCommand, EscalationSetupError, EscalationSetupEvent,
    PolicyRecord, ScheduleRecord,
};

/// Why a schedule, override or policy definition was refused; `field` names
/// the request field (`participants[1].channel_id`, `levels[0].delay_minutes`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{problem}")]
pub struct SpecError {
    pub field: String,
    pub problem: String,
}

impl SpecError {
    pub fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            problem: problem.into(),
        }
    }
}
