//! Query-string values the analysts' read models share (`/audit`, `/kpis`):
//! RFC 3339 dates or times.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};

use crate::error::ApiError;

/// A query value that is an RFC 3339 date (`2026-11-01`) or time
/// (`2026-11-01T08:00:00Z`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DayOrTime {
    Day(NaiveDate),
    Time(DateTime<Utc>),
}

impl DayOrTime {
    /// Parses `raw` for the query parameter `field` (named in the 422).
    pub(crate) fn parse(field: &'static str, raw: &str) -> Result<Self, ApiError> {
        let raw = raw.trim();
        // An unencoded `+` in an offset arrives as a space.
        let repaired = raw.replace(' ', "+");
        let parsed = if let Ok(time) = DateTime::parse_from_rfc3339(&repaired) {
            Some(Self::Time(time.with_timezone(&Utc)))
        } else {
            NaiveDate::parse_from_str(raw, "%Y-%m-%d")
                .ok()
                .map(Self::Day)
        };
        if let Some(parsed) = parsed {
            // chrono parses years up to ±262,143, where day arithmetic (the
            // end of a day, a default window) overflows and panicked the
            // request: only years 1..=9999 are dates here.
            let year = chrono::Datelike::year(&parsed.day());
            return if (1..=9999).contains(&year) {
                Ok(parsed)
            } else {
                Err(ApiError::invalid_value(
                    field,
                    format!("`{field}` must be a date between 0001-01-01 and 9999-12-31"),
                ))
            };
        }
        Err(ApiError::invalid_value(
            field,
            format!(
                "`{field}` must be an RFC 3339 date (2026-11-01) or time (2026-11-01T08:00:00Z)"
            ),
        ))
    }

    /// The UTC day it falls on.
    pub(crate) fn day(self) -> NaiveDate {
        match self {
            Self::Day(day) => day,
            Self::Time(time) => time.date_naive(),
        }
    }

    /// As a lower bound: a date means the start of that day.
    pub(crate) fn start(self) -> DateTime<Utc> {
        match self {
            Self::Day(day) => day.and_time(NaiveTime::MIN).and_utc(),
            Self::Time(time) => time,
        }
    }

    /// As an upper bound (inclusive): a date means the whole day, up to its
    /// last microsecond (the precision of stored times).
    pub(crate) fn end(self) -> DateTime<Utc> {
        match self {
            Self::Day(day) => {
                day.and_time(NaiveTime::MIN).and_utc() + Duration::days(1)
                    - Duration::microseconds(1)
            }
            Self::Time(time) => time,
        }
    }
}

/// Parses an optional date-or-time parameter.
pub(crate) fn optional(
    field: &'static str,
    raw: Option<&str>,
) -> Result<Option<DayOrTime>, ApiError> {
    raw.map(|raw| DayOrTime::parse(field, raw)).transpose()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn dates_and_times_parse_and_garbage_names_its_field() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        assert_eq!(
            DayOrTime::parse("from", "2026-11-01").unwrap(),
            DayOrTime::Day(day)
        );
        let time = Utc.with_ymd_and_hms(2026, 11, 1, 6, 0, 0).unwrap();
        assert_eq!(
            DayOrTime::parse("from", "2026-11-01T08:00:00 02:00").unwrap(),
            DayOrTime::Time(time)
        );
        let error = DayOrTime::parse("to", "yesterday").unwrap_err();
        assert_eq!(error.status(), axum::http::StatusCode::UNPROCESSABLE_ENTITY);
        assert!(error.to_string().contains("`to`"));
    }

    #[test]
    fn a_date_as_an_upper_bound_covers_the_whole_day() {
        let day = DayOrTime::Day(NaiveDate::from_ymd_opt(2026, 11, 1).unwrap());
        assert_eq!(day.start().to_rfc3339(), "2026-11-01T00:00:00+00:00");
        assert_eq!(day.end().to_rfc3339(), "2026-11-01T23:59:59.999999+00:00");
    }
}
