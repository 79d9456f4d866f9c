//! On-call schedules: a rotation (daily or weekly handoff at a local time of
//! day, in an IANA zone) over ordered participants, and overrides that put
//! someone else on call for a period. [`ScheduleSpec::on_call`] answers who
//! is on call at an instant; it is a pure function of the definition, the
//! overrides and the instant, so the escalation worker's recorded targets
//! can always be explained.
//!
//! Handoffs happen at local wall-clock time: a daily 09:00 handoff in
//! Europe/Berlin is at 08:00 UTC in winter and 07:00 UTC in summer, and the
//! shift that spans the change is an hour shorter (spring) or longer
//! (autumn). A handoff time that does not exist that day (inside the spring
//! gap) happens when the gap ends, at the same UTC offset as before it
//! (02:30 → 03:30 CEST); one that exists twice (autumn) happens at the
//! first.

use std::collections::BTreeMap;
use std::str::FromStr;

use chrono::{
    DateTime, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, Offset as _, TimeZone,
    Utc,
};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::SpecError;
use crate::values::{NotificationChannelId, OverrideId};

/// Most participants in one rotation.
pub const MAX_PARTICIPANTS: usize = 100;

/// Longest schedule or participant name, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// How often the rotation hands over to the next participant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Handoff {
    Daily,
    Weekly,
}

impl Handoff {
    fn days(self) -> i64 {
        match self {
            Self::Daily => 1,
            Self::Weekly => 7,
        }
    }

    /// Reads the API's spelling (`daily`, `weekly`).
    pub fn parse(raw: &str, field: &str) -> Result<Self, SpecError> {
        match raw.trim() {
            "daily" => Ok(Self::Daily),
            "weekly" => Ok(Self::Weekly),
            _ => Err(SpecError::new(field, "must be daily or weekly")),
        }
    }
}

/// Someone who can be on call, and the channel that reaches them (an
/// existing notification channel of the tenant: the API checks it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participant {
    pub name: String,
    pub channel_id: NotificationChannelId,
}

impl Participant {
    /// Checks the name (1 to 200 characters, no control characters);
    /// `field` is the request path of the participant.
    pub fn new(
        name: &str,
        channel_id: NotificationChannelId,
        field: &str,
    ) -> Result<Self, SpecError> {
        Ok(Self {
            name: checked_name(name, &format!("{field}.name"))?,
            channel_id,
        })
    }
}

/// The rotation as stored: handoff, local time of day (`HH:MM`) and the
/// local date of the first shift (its weekday is the weekly handoff day).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RotationFields {
    pub handoff: Handoff,
    pub handoff_time: String,
    pub start_date: NaiveDate,
}

/// A schedule's definition as stored (and as every path into a spec is checked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleFields {
    pub name: String,
    pub timezone: String,
    pub rotation: RotationFields,
    pub participants: Vec<Participant>,
}

/// A checked schedule definition (see [`ScheduleSpec::new`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ScheduleFields", into = "ScheduleFields")]
pub struct ScheduleSpec {
    fields: ScheduleFields,
    zone: Tz,
    handoff_time: NaiveTime,
}

impl TryFrom<ScheduleFields> for ScheduleSpec {
    type Error = SpecError;

    fn try_from(fields: ScheduleFields) -> Result<Self, Self::Error> {
        Self::new(fields)
    }
}

impl From<ScheduleSpec> for ScheduleFields {
    fn from(spec: ScheduleSpec) -> Self {
        spec.fields
    }
}

/// A period during which someone else is on call: `[starts_at, ends_at)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverrideSpec {
    pub participant: Participant,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

impl OverrideSpec {
    /// Checks that the period ends after it starts.
    pub fn new(
        participant: Participant,
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
    ) -> Result<Self, SpecError> {
        if ends_at <= starts_at {
            return Err(SpecError::new("ends_at", "must be after starts_at"));
        }
        Ok(Self {
            participant,
            starts_at,
            ends_at,
        })
    }

    fn covers(&self, at: DateTime<Utc>) -> bool {
        self.starts_at <= at && at < self.ends_at
    }
}

/// Who is on call at an instant, and for how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnCall {
    pub participant: Participant,
    /// The start of this stretch (a handoff, or an override's start or end).
    pub since: DateTime<Utc>,
    /// Its end (the next handoff, or an override's start or end).
    pub until: DateTime<Utc>,
    /// The override that put them on call, if one did.
    pub override_id: Option<OverrideId>,
}

impl ScheduleSpec {
    /// Checks a definition: a name, an IANA zone, a handoff time `HH:MM`
    /// (or `HH:MM:SS`), 1 to [`MAX_PARTICIPANTS`] participants.
    pub fn new(mut fields: ScheduleFields) -> Result<Self, SpecError> {
        fields.name = checked_name(&fields.name, "name")?;
        let zone = Tz::from_str(fields.timezone.trim()).map_err(|_| {
            SpecError::new(
                "timezone",
                format!(
                    "`{}` is not an IANA time zone (e.g. Europe/Berlin)",
                    fields.timezone
                ),
            )
        })?;
        fields.timezone = zone.name().to_owned();
        let raw_time = fields.rotation.handoff_time.trim();
        let handoff_time = NaiveTime::parse_from_str(raw_time, "%H:%M")
            .or_else(|_| NaiveTime::parse_from_str(raw_time, "%H:%M:%S"))
            .map_err(|_| {
                SpecError::new(
                    "rotation.handoff_time",
                    "must be a local time of day, HH:MM (e.g. 09:00)",
                )
            })?;
        fields.rotation.handoff_time = handoff_time.format("%H:%M:%S").to_string();
        if fields.rotation.handoff_time.ends_with(":00") {
            fields.rotation.handoff_time.truncate(5);
        }
        if fields.participants.is_empty() || fields.participants.len() > MAX_PARTICIPANTS {
            return Err(SpecError::new(
                "participants",
                format!("give 1 to {MAX_PARTICIPANTS} participants"),
            ));
        }
        for (index, participant) in fields.participants.iter_mut().enumerate() {
            participant.name =
                checked_name(&participant.name, &format!("participants[{index}].name"))?;
        }
        Ok(Self {
            fields,
            zone,
            handoff_time,
        })
    }

    pub fn fields(&self) -> &ScheduleFields {
        &self.fields
    }

    pub fn name(&self) -> &str {
        &self.fields.name
    }

    /// Every channel the schedule names (participants only).
    pub fn channels(&self) -> impl Iterator<Item = NotificationChannelId> + '_ {
        self.fields.participants.iter().map(|p| p.channel_id)
    }

    /// The `n`th handoff (0: the first shift's start), in UTC.
    fn handoff(&self, n: i64) -> Option<DateTime<Utc>> {
        let days = n.checked_mul(self.fields.rotation.handoff.days())?;
        let date = self
            .fields
            .rotation
            .start_date
            .checked_add_signed(Duration::try_days(days)?)?;
        Some(local_instant(self.zone, date.and_time(self.handoff_time)))
    }

    /// The rotation's shift in force at `at`: its number, start and end.
    fn shift_at(&self, at: DateTime<Utc>) -> Option<(i64, DateTime<Utc>, DateTime<Utc>)> {
        let local_date = at.with_timezone(&self.zone).date_naive();
        let days = (local_date - self.fields.rotation.start_date).num_days();
        let mut n = days.div_euclid(self.fields.rotation.handoff.days());
        if self.handoff(n)? > at {
            n -= 1;
        }
        if n < 0 {
            // Before the first handoff: the rotation has not begun.
            return None;
        }
        Some((n, self.handoff(n)?, self.handoff(n + 1)?))
    }

    /// Who is on call at `at`: the most recently added override covering
    /// it, else the rotation's participant, with the stretch trimmed by the
    /// overrides around it. `None` before the rotation's first handoff
    /// (unless an override covers it).
    pub fn on_call(
        &self,
        overrides: &BTreeMap<OverrideId, OverrideSpec>,
        at: DateTime<Utc>,
    ) -> Option<OnCall> {
        // Override ids are v7: the greatest is the one added last.
        if let Some((id, active)) = overrides.iter().rev().find(|(_, o)| o.covers(at)) {
            return Some(OnCall {
                participant: active.participant.clone(),
                since: active.starts_at,
                until: active.ends_at,
                override_id: Some(*id),
            });
        }
        let (n, mut since, mut until) = self.shift_at(at)?;
        let count = i64::try_from(self.fields.participants.len()).ok()?;
        let index = usize::try_from(n.rem_euclid(count)).ok()?;
        for period in overrides.values() {
            if period.ends_at > since && period.ends_at <= at {
                since = period.ends_at;
            }
            if period.starts_at > at && period.starts_at < until {
                until = period.starts_at;
            }
        }
        Some(OnCall {
            participant: self.fields.participants.get(index)?.clone(),
            since,
            until,
            override_id: None,
        })
    }
}

/// The local date of `at` in `timezone` (`None` for an unknown zone): the
/// default first day of a rotation defined without one.
pub fn local_date(timezone: &str, at: DateTime<Utc>) -> Option<NaiveDate> {
    let zone = Tz::from_str(timezone.trim()).ok()?;
    Some(at.with_timezone(&zone).date_naive())
}

/// The UTC instant of a local wall-clock time (see the module doc for gaps
/// and repeats).
fn local_instant(zone: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match zone.from_local_datetime(&local) {
        LocalResult::Single(at) => at.with_timezone(&Utc),
        LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
        LocalResult::None => {
            // Inside a gap: keep the offset in force before it.
            let before = local - Duration::hours(3);
            let offset = match zone.from_local_datetime(&before) {
                LocalResult::Single(at) | LocalResult::Ambiguous(at, _) => {
                    at.offset().fix().local_minus_utc()
                }
                LocalResult::None => 0,
            };
            Utc.from_utc_datetime(&(local - Duration::seconds(i64::from(offset))))
        }
    }
}

fn checked_name(raw: &str, field: &str) -> Result<String, SpecError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() || trimmed.chars().count() > MAX_NAME_CHARS {
        return Err(SpecError::new(
            field,
            format!("must have 1 to {MAX_NAME_CHARS} characters"),
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(SpecError::new(field, "must not contain control characters"));
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use uuid::Uuid;

    use super::*;

    fn utc(raw: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(raw)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn person(name: &str, n: u128) -> Participant {
        Participant {
            name: name.to_owned(),
            channel_id: NotificationChannelId::from_uuid(Uuid::from_u128(n)),
        }
    }

    fn berlin(handoff: Handoff, time: &str, start: &str) -> ScheduleSpec {
        ScheduleSpec::new(ScheduleFields {
            name: " Primary ".to_owned(),
            timezone: "Europe/Berlin".to_owned(),
            rotation: RotationFields {
                handoff,
                handoff_time: time.to_owned(),
                start_date: start.parse().unwrap(),
            },
            participants: vec![person("Alice", 1), person("Bob", 2), person("Carol", 3)],
        })
        .unwrap()
    }

    fn who(spec: &ScheduleSpec, at: &str) -> (String, DateTime<Utc>, DateTime<Utc>) {
        let on_call = spec.on_call(&BTreeMap::new(), utc(at)).unwrap();
        (on_call.participant.name, on_call.since, on_call.until)
    }

    #[test]
    fn a_daily_handoff_follows_local_time_across_the_spring_dst_change_in_berlin() {
        // 2026-03-29 is the last Sunday of March: 02:00 CET becomes 03:00 CEST.
        let spec = berlin(Handoff::Daily, "09:00", "2026-03-27");
        // Friday 27th 09:00 CET = 08:00 UTC: Alice; Saturday: Bob.
        assert_eq!(
            who(&spec, "2026-03-27T08:00:00Z"),
            (
                "Alice".to_owned(),
                utc("2026-03-27T08:00:00Z"),
                utc("2026-03-28T08:00:00Z")
            )
        );
        assert_eq!(who(&spec, "2026-03-28T07:59:59Z").0, "Alice");
        // Bob's shift spans the change: 09:00 CET Saturday to 09:00 CEST
        // Sunday (07:00 UTC), 23 hours.
        assert_eq!(
            who(&spec, "2026-03-28T12:00:00Z"),
            (
                "Bob".to_owned(),
                utc("2026-03-28T08:00:00Z"),
                utc("2026-03-29T07:00:00Z")
            )
        );
        // 07:30 UTC Sunday is 09:30 local: already Carol (at 08:00 UTC
        // winter rules would still say Bob).
        assert_eq!(who(&spec, "2026-03-29T07:30:00Z").0, "Carol");
        assert_eq!(who(&spec, "2026-03-29T06:59:59Z").0, "Bob");
        // Then round again to Alice, at 09:00 CEST.
        assert_eq!(
            who(&spec, "2026-03-30T07:00:00Z"),
            (
                "Alice".to_owned(),
                utc("2026-03-30T07:00:00Z"),
                utc("2026-03-31T07:00:00Z")
            )
        );
    }

    #[test]
    fn a_weekly_handoff_follows_local_time_across_the_autumn_dst_change_in_berlin() {
        // 2026-10-25 is the last Sunday of October: 03:00 CEST becomes 02:00 CET.
        // Weekly on Mondays at 09:00, from Monday 2026-10-19.
        let spec = berlin(Handoff::Weekly, "09:00", "2026-10-19");
        assert_eq!(
            who(&spec, "2026-10-19T07:00:00Z"),
            (
                "Alice".to_owned(),
                utc("2026-10-19T07:00:00Z"),
                utc("2026-10-26T08:00:00Z")
            )
        );
        // Monday 26th 08:30 UTC is 09:30 CET: Bob, a shift of 7 days and 1 hour before.
        assert_eq!(who(&spec, "2026-10-26T07:30:00Z").0, "Alice");
        assert_eq!(who(&spec, "2026-10-26T08:30:00Z").0, "Bob");
        // Before the rotation's first handoff nobody is on call.
        assert!(spec
            .on_call(&BTreeMap::new(), utc("2026-10-19T06:59:59Z"))
            .is_none());
    }

    #[test]
    fn a_handoff_inside_the_spring_gap_happens_when_the_gap_ends() {
        let spec = berlin(Handoff::Daily, "02:30", "2026-03-28");
        // 02:30 does not exist on the 29th; the handoff is at 03:30 CEST = 01:30 UTC.
        assert_eq!(
            who(&spec, "2026-03-29T01:30:00Z"),
            (
                "Bob".to_owned(),
                utc("2026-03-29T01:30:00Z"),
                utc("2026-03-30T00:30:00Z")
            )
        );
        assert_eq!(who(&spec, "2026-03-29T01:29:59Z").0, "Alice");
    }

    #[test]
    fn an_override_replaces_the_participant_for_its_period_and_trims_the_shifts_around_it() {
        let spec = berlin(Handoff::Daily, "09:00", "2026-03-27");
        let override_id = OverrideId::from_uuid(Uuid::from_u128(7));
        let overrides = BTreeMap::from([(
            override_id,
            OverrideSpec::new(
                person("Dave", 4),
                utc("2026-03-28T12:00:00Z"),
                utc("2026-03-28T18:00:00Z"),
            )
            .unwrap(),
        )]);
        let during = spec
            .on_call(&overrides, utc("2026-03-28T13:00:00Z"))
            .unwrap();
        assert_eq!(during.participant, person("Dave", 4));
        assert_eq!(during.override_id, Some(override_id));
        assert_eq!(
            (during.since, during.until),
            (utc("2026-03-28T12:00:00Z"), utc("2026-03-28T18:00:00Z"))
        );
        let before = spec
            .on_call(&overrides, utc("2026-03-28T09:00:00Z"))
            .unwrap();
        assert_eq!(before.participant.name, "Bob");
        assert_eq!(before.until, utc("2026-03-28T12:00:00Z"));
        let after = spec
            .on_call(&overrides, utc("2026-03-28T18:00:00Z"))
            .unwrap();
        assert_eq!(after.participant.name, "Bob");
        assert_eq!(
            (after.since, after.until),
            (utc("2026-03-28T18:00:00Z"), utc("2026-03-29T07:00:00Z"))
        );
    }

    #[test]
    fn bad_definitions_name_their_field() {
        let mut fields = berlin(Handoff::Daily, "09:00", "2026-03-27")
            .fields()
            .clone();
        fields.timezone = "Mars/Olympus".to_owned();
        assert_eq!(
            ScheduleSpec::new(fields.clone()).unwrap_err().field,
            "timezone"
        );
        fields.timezone = "Europe/Berlin".to_owned();
        fields.rotation.handoff_time = "25:00".to_owned();
        assert_eq!(
            ScheduleSpec::new(fields.clone()).unwrap_err().field,
            "rotation.handoff_time"
        );
        fields.rotation.handoff_time = "9:05".to_owned();
        assert_eq!(
            ScheduleSpec::new(fields.clone())
                .unwrap()
                .fields()
                .rotation
                .handoff_time,
            "09:05"
        );
        fields.participants.clear();
        assert_eq!(ScheduleSpec::new(fields).unwrap_err().field, "participants");
        assert_eq!(
            Handoff::parse("hourly", "rotation.handoff")
                .unwrap_err()
                .field,
            "rotation.handoff"
        );
    }
}
