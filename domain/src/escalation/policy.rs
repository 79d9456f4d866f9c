//! Escalation policies: ordered levels, each with its targets (channels, or
//! an on-call schedule) and a delay, and how many times the whole policy
//! repeats. The stored shape is API.md's:
//! `{"name", "levels": [{"delay_minutes", "channels": [..]} | {"delay_minutes", "schedule": id}], "repeat": 0}`.
//!
//! A level's delay is how long it waits for an acknowledgement before the
//! next level is reached (level 1 is reached when the escalation starts).
//! After the last level's delay the policy starts again at level 1, `repeat`
//! times.

use serde::{Deserialize, Serialize};

use super::SpecError;
use crate::values::{NotificationChannelId, ScheduleId};

/// Most levels in one policy.
pub const MAX_LEVELS: usize = 20;

/// Most channels on one level.
pub const MAX_LEVEL_CHANNELS: usize = 20;

/// Longest delay of a level, in minutes (one week).
pub const MAX_DELAY_MINUTES: u32 = 7 * 24 * 60;

/// Most repeats of a policy.
pub const MAX_REPEAT: u32 = 9;

/// Longest policy name, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// One level as stored: exactly one of `channels` and `schedule`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Level {
    pub delay_minutes: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<Vec<NotificationChannelId>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<ScheduleId>,
}

/// A policy's definition as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyFields {
    pub name: String,
    pub levels: Vec<Level>,
    #[serde(default)]
    pub repeat: u32,
}

/// A checked policy (see [`PolicySpec::new`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "PolicyFields", into = "PolicyFields")]
pub struct PolicySpec {
    fields: PolicyFields,
}

impl TryFrom<PolicyFields> for PolicySpec {
    type Error = SpecError;

    fn try_from(fields: PolicyFields) -> Result<Self, Self::Error> {
        Self::new(fields)
    }
}

impl From<PolicySpec> for PolicyFields {
    fn from(spec: PolicySpec) -> Self {
        spec.fields
    }
}

/// What a level targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LevelTargets<'a> {
    Channels(&'a [NotificationChannelId]),
    Schedule(ScheduleId),
}

/// One step of an escalation: which round (0: the first pass, 1: the first
/// repeat, ...) and which level (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Step {
    pub round: u32,
    pub level: u32,
}

impl Step {
    /// The first step: level 1 of round 0.
    pub const FIRST: Step = Step { round: 0, level: 1 };
}

impl PolicySpec {
    /// Checks a definition: a name; 1 to [`MAX_LEVELS`] levels, each with a
    /// delay of 1 to [`MAX_DELAY_MINUTES`] minutes and either 1 to
    /// [`MAX_LEVEL_CHANNELS`] distinct channels or a schedule; `repeat` up
    /// to [`MAX_REPEAT`]. That channels and schedules exist is checked where
    /// they are known (the API and the set-up aggregate).
    pub fn new(mut fields: PolicyFields) -> Result<Self, SpecError> {
        let name = fields.name.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
            return Err(SpecError::new(
                "name",
                format!("must have 1 to {MAX_NAME_CHARS} characters"),
            ));
        }
        if name.chars().any(char::is_control) {
            return Err(SpecError::new(
                "name",
                "must not contain control characters",
            ));
        }
        fields.name = name.to_owned();
        if fields.levels.is_empty() || fields.levels.len() > MAX_LEVELS {
            return Err(SpecError::new(
                "levels",
                format!("give 1 to {MAX_LEVELS} levels"),
            ));
        }
        for (index, level) in fields.levels.iter().enumerate() {
            if level.delay_minutes == 0 || level.delay_minutes > MAX_DELAY_MINUTES {
                return Err(SpecError::new(
                    format!("levels[{index}].delay_minutes"),
                    format!("must be between 1 and {MAX_DELAY_MINUTES}"),
                ));
            }
            match (&level.channels, level.schedule) {
                (Some(channels), None) => {
                    if channels.is_empty() || channels.len() > MAX_LEVEL_CHANNELS {
                        return Err(SpecError::new(
                            format!("levels[{index}].channels"),
                            format!("give 1 to {MAX_LEVEL_CHANNELS} channels"),
                        ));
                    }
                    for (n, channel) in channels.iter().enumerate() {
                        if channels[..n].contains(channel) {
                            return Err(SpecError::new(
                                format!("levels[{index}].channels[{n}]"),
                                "names a channel twice",
                            ));
                        }
                    }
                }
                (None, Some(_)) => {}
                _ => {
                    return Err(SpecError::new(
                        format!("levels[{index}]"),
                        "give exactly one of `channels` and `schedule`",
                    ))
                }
            }
        }
        if fields.repeat > MAX_REPEAT {
            return Err(SpecError::new(
                "repeat",
                format!("must be between 0 and {MAX_REPEAT}"),
            ));
        }
        Ok(Self { fields })
    }

    pub fn fields(&self) -> &PolicyFields {
        &self.fields
    }

    pub fn name(&self) -> &str {
        &self.fields.name
    }

    pub fn repeat(&self) -> u32 {
        self.fields.repeat
    }

    /// How many levels it has.
    pub fn level_count(&self) -> u32 {
        u32::try_from(self.fields.levels.len()).unwrap_or(u32::MAX)
    }

    /// Level `level` (1-based), if there is one.
    pub fn level(&self, level: u32) -> Option<&Level> {
        let index = usize::try_from(level.checked_sub(1)?).ok()?;
        self.fields.levels.get(index)
    }

    /// What level `level` (1-based) targets.
    pub fn targets(&self, level: u32) -> Option<LevelTargets<'_>> {
        let level = self.level(level)?;
        match (&level.channels, level.schedule) {
            (Some(channels), _) => Some(LevelTargets::Channels(channels)),
            (None, Some(schedule)) => Some(LevelTargets::Schedule(schedule)),
            (None, None) => None,
        }
    }

    /// The step after `step`, if the policy has one: the next level, else
    /// level 1 of the next round while repeats remain. A level the policy no
    /// longer has (it was shortened) counts as the end of its round.
    pub fn step_after(&self, step: Step) -> Option<Step> {
        if step.level < self.level_count() {
            return Some(Step {
                round: step.round,
                level: step.level + 1,
            });
        }
        (step.round < self.fields.repeat).then_some(Step {
            round: step.round + 1,
            level: 1,
        })
    }

    /// Every schedule its levels name, with the request field of each.
    pub fn schedules(&self) -> impl Iterator<Item = (String, ScheduleId)> + '_ {
        self.fields
            .levels
            .iter()
            .enumerate()
            .filter_map(|(index, level)| {
                level
                    .schedule
                    .map(|schedule| (format!("levels[{index}].schedule"), schedule))
            })
    }

    /// Every channel its levels name, with the request field of each.
    pub fn channels(&self) -> impl Iterator<Item = (String, NotificationChannelId)> + '_ {
        self.fields
            .levels
            .iter()
            .enumerate()
            .flat_map(|(index, level)| {
                level
                    .channels
                    .iter()
                    .flatten()
                    .enumerate()
                    .map(move |(n, channel)| (format!("levels[{index}].channels[{n}]"), *channel))
            })
    }
}

/// Minutes as people say them: "1 minute", "10 minutes".
pub fn minutes_text(minutes: u32) -> String {
    if minutes == 1 {
        "1 minute".to_owned()
    } else {
        format!("{minutes} minutes")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use uuid::Uuid;

    use super::*;

    fn channel(n: u128) -> NotificationChannelId {
        NotificationChannelId::from_uuid(Uuid::from_u128(n))
    }

    fn two_levels(repeat: u32) -> PolicyFields {
        PolicyFields {
            name: "Primary".to_owned(),
            levels: vec![
                Level {
                    delay_minutes: 10,
                    channels: Some(vec![channel(1)]),
                    schedule: None,
                },
                Level {
                    delay_minutes: 5,
                    channels: None,
                    schedule: Some(ScheduleId::from_uuid(Uuid::from_u128(9))),
                },
            ],
            repeat,
        }
    }

    #[test]
    fn steps_run_through_the_levels_then_repeat() {
        let policy = PolicySpec::new(two_levels(1)).unwrap();
        let second = policy.step_after(Step::FIRST).unwrap();
        assert_eq!(second, Step { round: 0, level: 2 });
        let again = policy.step_after(second).unwrap();
        assert_eq!(again, Step { round: 1, level: 1 });
        let last = policy.step_after(again).unwrap();
        assert_eq!(policy.step_after(last), None);
        assert_eq!(
            PolicySpec::new(two_levels(0))
                .unwrap()
                .step_after(Step { round: 0, level: 2 }),
            None
        );
    }

    #[test]
    fn bad_policies_name_their_field() {
        let mut fields = two_levels(0);
        fields.levels.clear();
        assert_eq!(PolicySpec::new(fields).unwrap_err().field, "levels");
        let mut fields = two_levels(0);
        fields.levels[1].channels = Some(vec![channel(2)]);
        assert_eq!(PolicySpec::new(fields).unwrap_err().field, "levels[1]");
        let mut fields = two_levels(0);
        fields.levels[0].delay_minutes = 0;
        assert_eq!(
            PolicySpec::new(fields).unwrap_err().field,
            "levels[0].delay_minutes"
        );
        let mut fields = two_levels(0);
        fields.levels[0].channels = Some(vec![channel(1), channel(1)]);
        assert_eq!(
            PolicySpec::new(fields).unwrap_err().field,
            "levels[0].channels[1]"
        );
        assert_eq!(PolicySpec::new(two_levels(10)).unwrap_err().field, "repeat");
    }
}
