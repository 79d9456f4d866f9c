//! Escalation timers (issue 18), derived from the log:
//!
//! - [`timers`] — the log consumer `escalation-timers`: keeps
//!   `escalation_timers`, one row per running escalation with when its next
//!   step is due, and marks the rows of an incident that was acknowledged
//!   or resolved;
//! - [`escalator`] — the time-driven worker: records each due step as
//!   `EscalationLevelReached` (with its reason and the targets resolved at
//!   that moment: a schedule becomes its on-call participant's channel), or
//!   `EscalationStopped` when the incident was acknowledged or resolved or
//!   the policy is gone.
//!
//! Nothing is held in memory between rounds: a restart reads the same due
//! list, and the `Escalation` aggregate refuses a step already recorded.

pub mod escalator;
pub mod timers;

pub use escalator::{Escalator, PlannedStep, ESCALATOR};
pub use timers::{EscalationTimers, TIMERS};
