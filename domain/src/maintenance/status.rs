//! Whether a window is in force, as its events report it: the rules that
//! decide which `MaintenanceWindowStatusChanged` events a window records
//! when its definition takes effect and when time passes an occurrence's
//! start or end. Pure functions of the window's reported state, its
//! definition and an instant, so the window closer's due list and the
//! aggregate's decision agree.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::{Occurrence, WindowSpec};

/// How far back an occurrence that began and ended while no closer ran is
/// still reported (one start and end, the latest such occurrence): beyond
/// it, nobody is watching a live panel for it, and a service that was
/// stopped for months would otherwise report every expired silence.
pub const MISSED_HORIZON: Duration = Duration::days(7);

/// One status change to record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusChange {
    /// In force for this occurrence.
    Active(Occurrence),
    /// No longer in force; the occurrence as it was, ending when it stopped.
    Inactive(Occurrence),
}

/// What the window's events reported so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reported {
    /// The occurrence reported in force, until its end is reported.
    pub in_force: Option<Occurrence>,
    /// Occurrences ending by then are reported, or predate the definition.
    pub through: Option<DateTime<Utc>>,
}

impl Reported {
    /// The change a definition taking effect at `at` makes at once (none
    /// when the window is deleted: `spec` is `None`).
    pub fn on_definition(
        &self,
        spec: Option<&WindowSpec>,
        at: DateTime<Utc>,
    ) -> Option<StatusChange> {
        let current = spec.and_then(|spec| spec.occurrence_at(at));
        match (self.in_force, current) {
            // Still in force, but the occurrence moved (e.g. a later end).
            (Some(reported), Some(current)) if reported != current => {
                Some(StatusChange::Active(current))
            }
            (Some(reported), None) => Some(StatusChange::Inactive(Occurrence {
                starts_at: reported.starts_at,
                ends_at: at.max(reported.starts_at),
            })),
            (None, Some(current)) => Some(StatusChange::Active(current)),
            _ => None,
        }
    }

    /// When the next boundary is due (the window closer's due list).
    pub fn next_boundary(&self, spec: &WindowSpec, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self.in_force {
            Some(reported) => Some(reported.ends_at),
            None => spec.next_in_force(self.unreported_from(now)),
        }
    }

    /// The changes due by `now`, in order: the end of the occurrence
    /// reported in force; then, if the window came into force unreported,
    /// the latest occurrence that began and ended meanwhile (its start and
    /// end) and the start of the one in force now.
    pub fn due(&self, spec: &WindowSpec, now: DateTime<Utc>) -> Vec<StatusChange> {
        let mut changes = Vec::new();
        let mut from = self.unreported_from(now);
        if let Some(reported) = self.in_force {
            if now < reported.ends_at {
                return changes;
            }
            changes.push(StatusChange::Inactive(reported));
            from = from.max(reported.ends_at);
        }
        if spec.next_in_force(from).is_none_or(|next| next > now) {
            return changes;
        }
        let current = spec.occurrence_at(now);
        // An occurrence is reported as missed only if the window really
        // stopped at its end (not one of a chain that is still in force).
        let missed = spec.latest_ended_by(now).filter(|missed| {
            missed.ends_at > from
                && (current.is_none() || spec.occurrence_at(missed.ends_at).is_none())
        });
        if let Some(missed) = missed {
            changes.push(StatusChange::Active(missed));
            changes.push(StatusChange::Inactive(missed));
        }
        if let Some(current) = current {
            changes.push(StatusChange::Active(current));
        }
        changes
    }

    /// Folds a recorded change.
    pub fn apply(&mut self, change: StatusChange) {
        match change {
            StatusChange::Active(occurrence) => self.in_force = Some(occurrence),
            StatusChange::Inactive(occurrence) => {
                self.in_force = None;
                self.move_through(occurrence.ends_at);
            }
        }
    }

    /// Nothing before `at` is to be reported any more (a definition took
    /// effect then, without putting the window in force).
    pub fn move_through(&mut self, at: DateTime<Utc>) {
        self.through = Some(self.through.map_or(at, |through| through.max(at)));
    }

    fn unreported_from(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let horizon = now - MISSED_HORIZON;
        self.through.map_or(now, |through| through.max(horizon))
    }
}
