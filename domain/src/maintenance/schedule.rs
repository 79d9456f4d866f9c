//! When a window is in force: a one-off span, or a recurrence (a cron
//! pattern or an RRULE) with a duration, read in an IANA time zone.
//!
//! Recurrences are evaluated in local wall-clock time: a window "Saturday
//! 22:00 for 4 hours" in Europe/Berlin opens at 22:00 local time and closes
//! at 02:00 local time on both sides of a daylight-saving change (its end is
//! the start's local time plus the duration; a local end that does not exist
//! falls back to absolute minutes, an ambiguous one takes the later instant).
//! Evaluation is a pure function of the definition and an instant, so the
//! correlator's decisions replay identically.

use std::str::FromStr;

use chrono::{DateTime, Duration, LocalResult, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// Longest window duration accepted (31 days).
pub const MAX_DURATION_MINUTES: u32 = 31 * 24 * 60;

/// Longest cron pattern or RRULE accepted, in characters.
const MAX_RULE_CHARS: usize = 512;

/// Most recurrence instants walked to find one occurrence (bounds the work an
/// evaluation can cost, whatever the rule).
const MAX_STEPS: usize = 20_000;

/// Most following occurrences merged into one period: bounds the cost of an
/// evaluation (the correlator evaluates on every covered alert). A longer
/// chain ends there; the alerts it held are then held again by the next
/// period (see docs/maintenance.md).
const MAX_MERGED: usize = 64;

/// One period during which a window is in force: `[starts_at, ends_at)`.
/// Stored as it was reported in `MaintenanceWindowStatusChanged`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Occurrence {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

/// Why a schedule could not be read; `field` names the request field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{problem}")]
pub struct ScheduleError {
    pub field: &'static str,
    pub problem: String,
}

fn invalid(field: &'static str, problem: impl Into<String>) -> ScheduleError {
    ScheduleError {
        field,
        problem: problem.into(),
    }
}

/// A recurrence as written, with its duration and zone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct ScheduleText {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cron: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rrule: Option<String>,
    duration_minutes: u32,
    timezone: String,
    /// The RRULE's DTSTART (its first possible instant; its local time of
    /// day is the default for BYHOUR/BYMINUTE/BYSECOND).
    anchor: DateTime<Utc>,
}

#[derive(Debug, Clone)]
enum Rule {
    Cron(Box<croner::Cron>),
    Rrule(Box<rrule::RRuleSet>),
}

/// A parsed recurrence.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "ScheduleText", into = "ScheduleText")]
pub struct Schedule {
    text: ScheduleText,
    zone: Tz,
    rule: Rule,
}

impl PartialEq for Schedule {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl From<Schedule> for ScheduleText {
    fn from(schedule: Schedule) -> Self {
        schedule.text
    }
}

impl TryFrom<ScheduleText> for Schedule {
    type Error = ScheduleError;

    fn try_from(text: ScheduleText) -> Result<Self, Self::Error> {
        Self::parse(
            text.cron.as_deref(),
            text.rrule.as_deref(),
            text.duration_minutes,
            &text.timezone,
            text.anchor,
        )
    }
}

impl Schedule {
    /// Parses a recurrence: exactly one of `cron` and `rrule`, a duration in
    /// minutes and an IANA zone name; `anchor` is the RRULE's DTSTART.
    pub fn parse(
        cron: Option<&str>,
        rrule: Option<&str>,
        duration_minutes: u32,
        timezone: &str,
        anchor: DateTime<Utc>,
    ) -> Result<Self, ScheduleError> {
        let zone = Tz::from_str(timezone.trim()).map_err(|_| {
            invalid(
                "schedule.timezone",
                format!("`{timezone}` is not an IANA time zone (e.g. Europe/Berlin)"),
            )
        })?;
        if duration_minutes == 0 || duration_minutes > MAX_DURATION_MINUTES {
            return Err(invalid(
                "schedule.duration_minutes",
                format!("must be between 1 and {MAX_DURATION_MINUTES}"),
            ));
        }
        let rule = match (cron, rrule) {
            (Some(pattern), None) => Rule::Cron(Box::new(parse_cron(pattern)?)),
            (None, Some(text)) => Rule::Rrule(Box::new(parse_rrule(text, zone, anchor)?)),
            _ => {
                return Err(invalid(
                    "schedule",
                    "give exactly one of `cron` and `rrule`",
                ))
            }
        };
        Ok(Self {
            text: ScheduleText {
                cron: cron.map(|c| c.trim().to_owned()),
                rrule: rrule.map(|r| r.trim().to_owned()),
                duration_minutes,
                timezone: zone.name().to_owned(),
                anchor,
            },
            zone,
            rule,
        })
    }

    /// The zone's name.
    pub fn timezone(&self) -> &str {
        &self.text.timezone
    }

    /// The occurrence in force at `at`, if any; occurrences that overlap or
    /// touch are one (their union, up to [`MAX_MERGED`] following starts),
    /// so its end is when the window really ends.
    pub fn occurrence_at(&self, at: DateTime<Utc>) -> Option<Occurrence> {
        let start = self.latest_start(at)?;
        let mut occurrence = Occurrence {
            starts_at: start,
            ends_at: self.end_of(start),
        };
        if at >= occurrence.ends_at {
            return None;
        }
        // Later starts before the end extend it (e.g. an every-minute cron).
        let mut from = start;
        for _ in 0..MAX_MERGED {
            match self.next_start(from) {
                Some(next) if next <= occurrence.ends_at => {
                    occurrence.ends_at = occurrence.ends_at.max(self.end_of(next));
                    from = next;
                }
                _ => break,
            }
        }
        Some(occurrence)
    }

    /// The first start after `after` (an occurrence begins there).
    pub fn next_start_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.next_start(after)
    }

    /// The latest single occurrence (not merged with its neighbours) that
    /// is over by `at`, looking back at most [`MAX_MERGED`] starts: what a
    /// process that was not running when it happened reports afterwards.
    pub fn latest_ended_by(&self, at: DateTime<Utc>) -> Option<Occurrence> {
        let mut start = self.latest_start(at)?;
        for _ in 0..MAX_MERGED {
            let ends_at = self.end_of(start);
            if ends_at <= at {
                return Some(Occurrence {
                    starts_at: start,
                    ends_at,
                });
            }
            start = self.previous_start(start)?;
        }
        None
    }

    /// The latest start strictly before `before`.
    fn previous_start(&self, before: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match &self.rule {
            Rule::Cron(cron) => cron
                .find_previous_occurrence(&before.with_timezone(&self.zone), false)
                .ok()
                .map(|start| start.with_timezone(&Utc)),
            Rule::Rrule(set) => {
                let mut latest = None;
                for start in set.as_ref().into_iter().take(MAX_STEPS) {
                    let start = start.with_timezone(&Utc);
                    if start >= before {
                        break;
                    }
                    latest = Some(start);
                }
                latest
            }
        }
    }

    /// The start's local time plus the duration, back in UTC.
    fn end_of(&self, start: DateTime<Utc>) -> DateTime<Utc> {
        let duration = Duration::minutes(i64::from(self.text.duration_minutes));
        let local_end = start.with_timezone(&self.zone).naive_local() + duration;
        match self.zone.from_local_datetime(&local_end) {
            LocalResult::Single(end) => end.with_timezone(&Utc),
            LocalResult::Ambiguous(_, later) => later.with_timezone(&Utc),
            LocalResult::None => start + duration,
        }
    }

    /// The latest start at or before `at`.
    fn latest_start(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match &self.rule {
            Rule::Cron(cron) => cron
                .find_previous_occurrence(&at.with_timezone(&self.zone), true)
                .ok()
                .map(|start| start.with_timezone(&Utc)),
            Rule::Rrule(set) => {
                let mut latest = None;
                for start in set.as_ref().into_iter().take(MAX_STEPS) {
                    let start = start.with_timezone(&Utc);
                    if start > at {
                        break;
                    }
                    latest = Some(start);
                }
                latest
            }
        }
    }

    /// The first start after `after`.
    fn next_start(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match &self.rule {
            Rule::Cron(cron) => cron
                .find_next_occurrence(&after.with_timezone(&self.zone), false)
                .ok()
                .map(|start| start.with_timezone(&Utc)),
            Rule::Rrule(set) => set
                .as_ref()
                .into_iter()
                .take(MAX_STEPS)
                .map(|start| start.with_timezone(&Utc))
                .find(|start| *start > after),
        }
    }
}

/// Local midnight of `now`'s day in `timezone` (`now` itself when the zone
/// is unknown: parsing the schedule then names the bad zone). The default
/// anchor of an RRULE defined without a start.
pub fn local_midnight(timezone: &str, now: DateTime<Utc>) -> DateTime<Utc> {
    let Ok(zone) = Tz::from_str(timezone.trim()) else {
        return now;
    };
    now.with_timezone(&zone)
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .and_then(|midnight| zone.from_local_datetime(&midnight).earliest())
        .map_or(now, |midnight| midnight.with_timezone(&Utc))
}

fn parse_cron(pattern: &str) -> Result<croner::Cron, ScheduleError> {
    if pattern.chars().count() > MAX_RULE_CHARS {
        return Err(invalid(
            "schedule.cron",
            format!("has at most {MAX_RULE_CHARS} characters"),
        ));
    }
    croner::Cron::from_str(pattern.trim()).map_err(|error| {
        invalid(
            "schedule.cron",
            format!("`{pattern}` is not a cron pattern: {error}"),
        )
    })
}

fn parse_rrule(
    text: &str,
    zone: Tz,
    anchor: DateTime<Utc>,
) -> Result<rrule::RRuleSet, ScheduleError> {
    if text.chars().count() > MAX_RULE_CHARS {
        return Err(invalid(
            "schedule.rrule",
            format!("has at most {MAX_RULE_CHARS} characters"),
        ));
    }
    let bare = text.trim();
    let bare = bare.strip_prefix("RRULE:").unwrap_or(bare);
    let bad = |error: &dyn std::fmt::Display| {
        invalid(
            "schedule.rrule",
            format!("`{text}` is not an RRULE (RFC 5545, e.g. FREQ=WEEKLY;BYDAY=SA;BYHOUR=22;BYMINUTE=0): {error}"),
        )
    };
    let unvalidated: rrule::RRule<rrule::Unvalidated> = bare.parse().map_err(|e| bad(&e))?;
    if matches!(
        unvalidated.get_freq(),
        rrule::Frequency::Minutely | rrule::Frequency::Secondly
    ) {
        return Err(invalid(
            "schedule.rrule",
            "FREQ must be HOURLY or coarser (use a cron pattern for finer schedules)",
        ));
    }
    let start = anchor.with_timezone(&rrule::Tz::Tz(zone));
    let validated = unvalidated.validate(start).map_err(|e| bad(&e))?;
    Ok(rrule::RRuleSet::new(start).rrule(validated))
}
