//! A tenant's own notification settings, beside its channels and rules:
//! today the storm-coalescing interval (at most one message per incident
//! and channel per interval). Unset, the process setting applies
//! (`ALERTLEDGER_NOTIFY_COALESCE_SECONDS`), so one noisy tenant can be
//! quietened, or a critical one told at once, without moving the others.

use crate::values::ValueError;

/// The longest coalescing interval a tenant may set: a day. Longer would
/// hold an incident's follow-ups (acknowledged, resolved) back for days.
pub const MAX_COALESCE_SECONDS: u32 = 86_400;

/// A coalescing interval in seconds, `0..=86400` (0: every message goes out
/// as soon as the one before it was attempted).
/// Events record the plain number, so a later, tighter bound never makes a
/// stored event unreadable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CoalesceSeconds(u32);

impl CoalesceSeconds {
    /// Reads a request's number: an integer in `0..=86400`.
    pub fn parse(raw: &serde_json::Value) -> Result<Self, ValueError> {
        raw.as_u64()
            .and_then(|seconds| u32::try_from(seconds).ok())
            .ok_or_else(out_of_range)
            .and_then(Self::try_from)
    }

    pub fn seconds(self) -> u32 {
        self.0
    }
}

fn out_of_range() -> ValueError {
    ValueError::new(
        "coalesce_seconds",
        format!("must be a whole number of seconds from 0 to {MAX_COALESCE_SECONDS}"),
    )
}

impl TryFrom<u32> for CoalesceSeconds {
    type Error = ValueError;

    fn try_from(seconds: u32) -> Result<Self, Self::Error> {
        if seconds > MAX_COALESCE_SECONDS {
            return Err(out_of_range());
        }
        Ok(Self(seconds))
    }
}

impl From<CoalesceSeconds> for u32 {
    fn from(value: CoalesceSeconds) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use serde_json::json;

    #[test]
    fn a_coalescing_interval_is_a_whole_number_of_seconds_up_to_a_day() {
        assert_eq!(CoalesceSeconds::parse(&json!(0)).unwrap().seconds(), 0);
        assert_eq!(
            CoalesceSeconds::parse(&json!(86_400)).unwrap().seconds(),
            86_400
        );
        for bad in [
            json!(86_401),
            json!(-1),
            json!(1.5),
            json!("60"),
            json!(null),
        ] {
            let error = CoalesceSeconds::parse(&bad).unwrap_err();
            assert_eq!(error.field(), "coalesce_seconds", "{bad}");
        }
    }
}
