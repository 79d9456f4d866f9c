//! What a maintenance window says: its name, when it is in force and which
//! alerts it covers.

use chrono::{DateTime, Duration, SubsecRound, Utc};
use serde::{Deserialize, Serialize};

use super::matcher::{AlertFacts, Matcher};
use super::schedule::{Occurrence, Schedule};
use crate::values::IncidentId;

/// Most matchers in one window.
pub const MAX_MATCHERS: usize = 32;

/// Longest window name, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// A window's definition, valid by construction (see [`WindowSpec::new`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "SpecFields", into = "SpecFields")]
pub struct WindowSpec {
    fields: SpecFields,
}

/// The stored shape (and the checks every path into a spec passes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpecFields {
    pub name: String,
    /// One-off: the start. Recurring: no occurrence starts before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<DateTime<Utc>>,
    /// One-off: the end. Recurring: every occurrence ends by then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
    pub matchers: Vec<Matcher>,
    /// The incident a silence was made from, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub silenced_incident: Option<IncidentId>,
}

/// Why a definition was refused; `field` names the request field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{problem}")]
pub struct SpecError {
    pub field: &'static str,
    pub problem: String,
}

impl TryFrom<SpecFields> for WindowSpec {
    type Error = SpecError;

    fn try_from(fields: SpecFields) -> Result<Self, Self::Error> {
        Self::new(fields)
    }
}

impl From<WindowSpec> for SpecFields {
    fn from(spec: WindowSpec) -> Self {
        spec.fields
    }
}

impl WindowSpec {
    /// Checks a definition: a non-empty name; a schedule, or both `starts_at`
    /// and `ends_at` for a one-off; an end after the start; 1 to
    /// [`MAX_MATCHERS`] matchers (a window that matches everything must say
    /// so, e.g. `severity=~".*"`).
    pub fn new(mut fields: SpecFields) -> Result<Self, SpecError> {
        let refuse = |field, problem: &str| {
            Err(SpecError {
                field,
                problem: problem.to_owned(),
            })
        };
        fields.name = fields.name.trim().to_owned();
        // Stored instants have microseconds (PostgreSQL's precision): a
        // finer end could never equal the end the database gives back.
        fields.starts_at = fields.starts_at.map(|at| at.trunc_subsecs(6));
        fields.ends_at = fields.ends_at.map(|at| at.trunc_subsecs(6));
        if fields.name.is_empty() || fields.name.chars().count() > MAX_NAME_CHARS {
            return refuse("name", "must have 1 to 200 characters");
        }
        if fields.name.chars().any(char::is_control) {
            return refuse("name", "must not contain control characters");
        }
        if fields.schedule.is_none() {
            if fields.starts_at.is_none() {
                return refuse("starts_at", "a window without a schedule needs starts_at");
            }
            if fields.ends_at.is_none() {
                return refuse("ends_at", "a window without a schedule needs ends_at");
            }
        }
        if let (Some(start), Some(end)) = (fields.starts_at, fields.ends_at) {
            if end <= start {
                return refuse("ends_at", "must be after starts_at");
            }
        }
        if fields.matchers.is_empty() || fields.matchers.len() > MAX_MATCHERS {
            return refuse("matchers", "give 1 to 32 matchers");
        }
        Ok(Self { fields })
    }

    pub fn fields(&self) -> &SpecFields {
        &self.fields
    }

    pub fn name(&self) -> &str {
        &self.fields.name
    }

    /// Whether every matcher matches the alert.
    pub fn matches(&self, alert: &AlertFacts<'_>) -> bool {
        self.fields.matchers.iter().all(|m| m.matches(alert))
    }

    /// The occurrence in force at `at`, if any.
    pub fn occurrence_at(&self, at: DateTime<Utc>) -> Option<Occurrence> {
        let fields = &self.fields;
        if fields.starts_at.is_some_and(|start| at < start) {
            return None;
        }
        if fields.ends_at.is_some_and(|end| at >= end) {
            return None;
        }
        let mut occurrence = match &fields.schedule {
            None => Occurrence {
                starts_at: fields.starts_at?,
                ends_at: fields.ends_at?,
            },
            Some(schedule) => schedule.occurrence_at(at)?,
        };
        if let Some(start) = fields.starts_at {
            // An occurrence that started before the window's start counts from it.
            occurrence.starts_at = occurrence.starts_at.max(start);
        }
        if let Some(end) = fields.ends_at {
            occurrence.ends_at = occurrence.ends_at.min(end);
        }
        Some(occurrence)
    }
}

impl WindowSpec {
    /// The earliest instant at or after `from` at which the window is in
    /// force (an occurrence's start, or `from` itself inside one).
    pub fn next_in_force(&self, from: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let fields = &self.fields;
        let from = fields.starts_at.map_or(from, |start| from.max(start));
        if fields.ends_at.is_some_and(|end| from >= end) {
            return None;
        }
        if self.occurrence_at(from).is_some() {
            return Some(from);
        }
        // A one-off window not in force at or after its start is over.
        let start = fields.schedule.as_ref()?.next_start_after(from)?;
        fields
            .ends_at
            .is_none_or(|end| start < end)
            .then_some(start)
    }

    /// The latest occurrence over by `at`, within the window's bounds (a
    /// recurring occurrence cut by `ends_at` ends there).
    pub fn latest_ended_by(&self, at: DateTime<Utc>) -> Option<Occurrence> {
        let fields = &self.fields;
        let occurrence = match &fields.schedule {
            None => Occurrence {
                starts_at: fields.starts_at?,
                ends_at: fields.ends_at?,
            },
            Some(schedule) => {
                let cut = fields
                    .ends_at
                    .filter(|end| *end <= at)
                    .and_then(|end| self.occurrence_at(end - Duration::microseconds(1)));
                match cut {
                    Some(cut) => cut,
                    None => {
                        let mut found = schedule.latest_ended_by(at)?;
                        if let Some(start) = fields.starts_at {
                            found.starts_at = found.starts_at.max(start);
                        }
                        found
                    }
                }
            }
        };
        (occurrence.starts_at < occurrence.ends_at && occurrence.ends_at <= at)
            .then_some(occurrence)
    }
}
