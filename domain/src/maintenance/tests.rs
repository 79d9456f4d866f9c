#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use cqrs_es::test::TestFramework;
use cqrs_es::Aggregate;
use uuid::Uuid;

use super::*;
use crate::testing::{actor, now, services, services_at, tenant_id};
use crate::values::{Labels, Role, Severity, WindowId};

fn utc(raw: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(raw)
        .unwrap()
        .with_timezone(&Utc)
}

fn weekly_cron() -> Schedule {
    Schedule::parse(
        Some("0 22 * * SAT"),
        None,
        240,
        "Europe/Berlin",
        utc("2026-01-01T00:00:00Z"),
    )
    .unwrap()
}

fn weekly_rrule() -> Schedule {
    Schedule::parse(
        None,
        Some("FREQ=WEEKLY;BYDAY=SA;BYHOUR=22;BYMINUTE=0;BYSECOND=0"),
        240,
        "Europe/Berlin",
        utc("2026-01-03T00:00:00Z"),
    )
    .unwrap()
}

fn occurrence(starts_at: &str, ends_at: &str) -> Option<Occurrence> {
    Some(Occurrence {
        starts_at: utc(starts_at),
        ends_at: utc(ends_at),
    })
}

#[test]
fn a_weekly_window_opens_and_closes_at_local_wall_clock_times_across_the_autumn_dst_change() {
    for schedule in [weekly_cron(), weekly_rrule()] {
        // Summer time (UTC+2): Saturday 22:00 local is 20:00 UTC.
        assert_eq!(schedule.occurrence_at(utc("2026-10-17T19:59:59Z")), None);
        assert_eq!(
            schedule.occurrence_at(utc("2026-10-17T20:00:00Z")),
            occurrence("2026-10-17T20:00:00Z", "2026-10-18T00:00:00Z")
        );
        assert_eq!(schedule.occurrence_at(utc("2026-10-18T00:00:00Z")), None);
        // The night of the change: 02:00 local happens twice; the window
        // closes at the later one (02:00 CET = 01:00 UTC).
        assert_eq!(
            schedule.occurrence_at(utc("2026-10-25T00:30:00Z")),
            occurrence("2026-10-24T20:00:00Z", "2026-10-25T01:00:00Z")
        );
        // Winter time (UTC+1): Saturday 22:00 local is 21:00 UTC.
        assert_eq!(schedule.occurrence_at(utc("2026-10-31T20:30:00Z")), None);
        assert_eq!(
            schedule.occurrence_at(utc("2026-10-31T21:00:00Z")),
            occurrence("2026-10-31T21:00:00Z", "2026-11-01T01:00:00Z")
        );
        assert_eq!(schedule.occurrence_at(utc("2026-11-01T01:00:00Z")), None);
    }
}

#[test]
fn a_weekly_window_follows_the_spring_dst_change_too() {
    let schedule = weekly_cron();
    // Before: 22:00 CET = 21:00 UTC.
    assert_eq!(
        schedule.occurrence_at(utc("2026-03-21T21:30:00Z")),
        occurrence("2026-03-21T21:00:00Z", "2026-03-22T01:00:00Z")
    );
    // After (29 March): 22:00 CEST = 20:00 UTC, closing at 02:00 CEST.
    assert_eq!(schedule.occurrence_at(utc("2026-04-04T19:59:00Z")), None);
    assert_eq!(
        schedule.occurrence_at(utc("2026-04-04T20:00:00Z")),
        occurrence("2026-04-04T20:00:00Z", "2026-04-05T00:00:00Z")
    );
}

#[test]
fn overlapping_occurrences_are_one_period() {
    let schedule = Schedule::parse(
        Some("*/10 * * * *"),
        None,
        30,
        "UTC",
        utc("2026-01-01T00:00:00Z"),
    )
    .unwrap();
    let at = utc("2026-05-01T10:05:00Z");
    let found = schedule.occurrence_at(at).unwrap();
    assert!(found.starts_at <= at);
    // Every ten minutes for 30 minutes: one period, merged up to its limit
    // (64 more starts of ten minutes each).
    assert_eq!(found.starts_at, utc("2026-05-01T10:00:00Z"));
    assert_eq!(found.ends_at, utc("2026-05-01T21:10:00Z"));
}

#[test]
fn bad_schedules_name_their_field() {
    let anchor = utc("2026-01-01T00:00:00Z");
    let field = |r: Result<Schedule, ScheduleError>| r.unwrap_err().field;
    assert_eq!(
        field(Schedule::parse(Some("61 * * * *"), None, 60, "UTC", anchor)),
        "schedule.cron"
    );
    assert_eq!(
        field(Schedule::parse(
            None,
            Some("FREQ=SOMETIMES"),
            60,
            "UTC",
            anchor
        )),
        "schedule.rrule"
    );
    assert_eq!(
        field(Schedule::parse(
            None,
            Some("FREQ=MINUTELY"),
            60,
            "UTC",
            anchor
        )),
        "schedule.rrule"
    );
    assert_eq!(
        field(Schedule::parse(
            Some("0 22 * * 6"),
            None,
            60,
            "Mars/Olympus",
            anchor
        )),
        "schedule.timezone"
    );
    assert_eq!(
        field(Schedule::parse(Some("0 22 * * 6"), None, 0, "UTC", anchor)),
        "schedule.duration_minutes"
    );
    assert_eq!(
        field(Schedule::parse(
            Some("0 22 * * 6"),
            Some("FREQ=DAILY"),
            60,
            "UTC",
            anchor
        )),
        "schedule"
    );
}

fn facts<'a>(labels: &'a Labels) -> AlertFacts<'a> {
    AlertFacts {
        asset: "srv-db-01",
        signature: "DiskFull",
        severity: Severity::High,
        source: "prometheus",
        labels,
    }
}

#[test]
fn matchers_follow_alertmanager_semantics() {
    let labels = Labels::new(BTreeMap::from([("env".to_owned(), "prod".to_owned())])).unwrap();
    let alert = facts(&labels);
    let yes = |raw: &str| Matcher::parse(raw).unwrap().matches(&alert);
    assert!(yes(r#"asset="srv-db-01""#));
    assert!(yes("asset=srv-db-01"));
    assert!(!yes(r#"asset!="srv-db-01""#));
    assert!(yes(r#"severity=~"high|critical""#));
    // Anchored: a part of the value is not a match.
    assert!(!yes(r#"asset=~"srv""#));
    assert!(yes(r#"asset!~"srv""#));
    assert!(yes(r#"source="prometheus""#));
    assert!(yes(r#"env="prod""#));
    // A missing label compares as "".
    assert!(yes(r#"team="""#));
    assert!(!yes(r#"team=~".+""#));
    assert_eq!(
        Matcher::parse(r#"asset = "a\"b""#).unwrap().to_string(),
        r#"asset="a\"b""#
    );
}

#[test]
fn bad_matchers_are_refused() {
    for raw in [
        r#"asset=~"(""#,
        r#"="x""#,
        r#"asset "x""#,
        r#"asset="x"#,
        r#"9asset="x""#,
    ] {
        assert!(Matcher::parse(raw).is_err(), "{raw} was accepted");
    }
    // A pattern whose compiled program is too large is refused.
    assert!(Matcher::parse(r#"asset=~"(\w{100}){100}""#).is_err());
}

fn spec(start: &str, end: &str) -> WindowSpec {
    WindowSpec::new(SpecFields {
        name: "Patch night".to_owned(),
        starts_at: Some(utc(start)),
        ends_at: Some(utc(end)),
        schedule: None,
        matchers: vec![Matcher::parse(r#"asset="srv-db-01""#).unwrap()],
        silenced_incident: None,
    })
    .unwrap()
}

#[test]
fn a_one_off_window_needs_an_end_after_its_start() {
    let error = WindowSpec::new(SpecFields {
        name: "x".to_owned(),
        starts_at: Some(utc("2026-03-14T10:00:00Z")),
        ends_at: Some(utc("2026-03-14T09:00:00Z")),
        schedule: None,
        matchers: vec![Matcher::parse("asset=a").unwrap()],
        silenced_incident: None,
    })
    .unwrap_err();
    assert_eq!(error.field, "ends_at");
    let window = spec("2026-03-14T09:00:00Z", "2026-03-14T10:00:00Z");
    assert!(window.occurrence_at(utc("2026-03-14T08:59:59Z")).is_none());
    assert!(window.occurrence_at(utc("2026-03-14T09:30:00Z")).is_some());
    assert!(window.occurrence_at(utc("2026-03-14T10:00:00Z")).is_none());
}

#[test]
fn a_spec_survives_its_stored_form() {
    let window = WindowSpec::new(SpecFields {
        name: "Weekly".to_owned(),
        starts_at: None,
        ends_at: None,
        schedule: Some(weekly_rrule()),
        matchers: vec![Matcher::parse(r#"severity=~"high|critical""#).unwrap()],
        silenced_incident: None,
    })
    .unwrap();
    let stored = serde_json::to_value(&window).unwrap();
    let back: WindowSpec = serde_json::from_value(stored).unwrap();
    assert_eq!(back, window);
}

fn window_id() -> WindowId {
    WindowId::from_uuid(Uuid::from_u128(0x77))
}

fn created() -> MaintenanceWindowEvent {
    MaintenanceWindowEvent::MaintenanceWindowCreated {
        tenant_id: tenant_id(),
        window_id: window_id(),
        window: spec("2026-03-14T08:00:00Z", "2026-03-14T09:00:00Z"),
        actor: actor("admin-1", Role::TenantAdmin),
        at: now(),
    }
}

#[test]
fn an_occurrence_end_is_recorded_once_and_only_when_due() {
    let ended_at = utc("2026-03-14T09:00:00Z");
    TestFramework::<MaintenanceWindow>::with(services())
        .given(vec![created()])
        .when(MaintenanceWindowCommand::RecordEnd { ended_at })
        .then_expect_events(vec![MaintenanceWindowEvent::MaintenanceWindowEnded {
            tenant_id: tenant_id(),
            window_id: window_id(),
            ended_at,
            at: now(),
        }]);
    TestFramework::<MaintenanceWindow>::with(services())
        .given(vec![
            created(),
            MaintenanceWindowEvent::MaintenanceWindowEnded {
                tenant_id: tenant_id(),
                window_id: window_id(),
                ended_at,
                at: now(),
            },
        ])
        .when(MaintenanceWindowCommand::RecordEnd { ended_at })
        .then_expect_error(MaintenanceWindowError::EndAlreadyRecorded);
    TestFramework::<MaintenanceWindow>::with(services_at(utc("2026-03-14T08:30:00Z")))
        .given(vec![created()])
        .when(MaintenanceWindowCommand::RecordEnd { ended_at })
        .then_expect_error(MaintenanceWindowError::NotEnded);
}

#[test]
fn a_deleted_window_takes_no_change() {
    TestFramework::<MaintenanceWindow>::with(services())
        .given(vec![
            created(),
            MaintenanceWindowEvent::MaintenanceWindowDeleted {
                tenant_id: tenant_id(),
                window_id: window_id(),
                actor: actor("admin-1", Role::TenantAdmin),
                at: now(),
            },
        ])
        .when(MaintenanceWindowCommand::DeleteWindow {
            actor: actor("admin-1", Role::TenantAdmin),
        })
        .then_expect_error(MaintenanceWindowError::Deleted);
}

fn status(active: bool, start: &str, end: &str, at: DateTime<Utc>) -> MaintenanceWindowEvent {
    MaintenanceWindowEvent::MaintenanceWindowStatusChanged {
        tenant_id: tenant_id(),
        window_id: window_id(),
        active,
        occurrence_start: utc(start),
        occurrence_end: utc(end),
        at,
    }
}

fn created_at(window: WindowSpec, at: &str) -> MaintenanceWindowEvent {
    MaintenanceWindowEvent::MaintenanceWindowCreated {
        tenant_id: tenant_id(),
        window_id: window_id(),
        window,
        actor: actor("admin-1", Role::TenantAdmin),
        at: utc(at),
    }
}

fn weekly_window() -> WindowSpec {
    WindowSpec::new(SpecFields {
        name: "Weekly".to_owned(),
        starts_at: None,
        ends_at: None,
        schedule: Some(weekly_cron()),
        matchers: vec![Matcher::parse(r#"severity=~"high|critical""#).unwrap()],
        silenced_incident: None,
    })
    .unwrap()
}

#[test]
fn a_window_defined_in_force_reports_its_start_with_its_definition() {
    let window = spec("2026-03-14T09:00:00Z", "2026-03-14T10:00:00Z");
    TestFramework::<MaintenanceWindow>::with(services())
        .given_no_previous_events()
        .when(MaintenanceWindowCommand::CreateWindow {
            window_id: window_id(),
            tenant_id: tenant_id(),
            spec: window.clone(),
            actor: actor("admin-1", Role::TenantAdmin),
        })
        .then_expect_events(vec![
            created_at(window, "2026-03-14T09:26:53Z"),
            status(true, "2026-03-14T09:00:00Z", "2026-03-14T10:00:00Z", now()),
        ]);
}

#[test]
fn a_one_off_window_reports_its_start_and_its_end_when_due() {
    let window = spec("2026-03-14T10:00:00Z", "2026-03-14T11:00:00Z");
    let given = || vec![created_at(window.clone(), "2026-03-14T09:00:00Z")];
    // Before the start nothing is due.
    TestFramework::<MaintenanceWindow>::with(services_at(utc("2026-03-14T09:59:59Z")))
        .given(given())
        .when(MaintenanceWindowCommand::RecordBoundaries)
        .then_expect_error(MaintenanceWindowError::NoBoundaryDue);
    let started_at = utc("2026-03-14T10:00:01Z");
    TestFramework::<MaintenanceWindow>::with(services_at(started_at))
        .given(given())
        .when(MaintenanceWindowCommand::RecordBoundaries)
        .then_expect_events(vec![status(
            true,
            "2026-03-14T10:00:00Z",
            "2026-03-14T11:00:00Z",
            started_at,
        )]);
    let mut after_start = given();
    after_start.push(status(
        true,
        "2026-03-14T10:00:00Z",
        "2026-03-14T11:00:00Z",
        started_at,
    ));
    TestFramework::<MaintenanceWindow>::with(services_at(utc("2026-03-14T10:59:00Z")))
        .given(after_start.clone())
        .when(MaintenanceWindowCommand::RecordBoundaries)
        .then_expect_error(MaintenanceWindowError::NoBoundaryDue);
    let ended_at = utc("2026-03-14T11:00:02Z");
    TestFramework::<MaintenanceWindow>::with(services_at(ended_at))
        .given(after_start.clone())
        .when(MaintenanceWindowCommand::RecordBoundaries)
        .then_expect_events(vec![status(
            false,
            "2026-03-14T10:00:00Z",
            "2026-03-14T11:00:00Z",
            ended_at,
        )]);
    // The due list agrees: the end, then nothing more.
    let mut window_state = MaintenanceWindow::default();
    for event in after_start {
        window_state.apply(event);
    }
    assert_eq!(
        window_state.next_boundary(ended_at),
        Some(utc("2026-03-14T11:00:00Z"))
    );
    window_state.apply(status(
        false,
        "2026-03-14T10:00:00Z",
        "2026-03-14T11:00:00Z",
        ended_at,
    ));
    assert_eq!(window_state.next_boundary(ended_at), None);
}

#[test]
fn an_occurrence_that_began_and_ended_unreported_is_reported_after_a_restart() {
    let window = spec("2026-03-14T10:00:00Z", "2026-03-14T11:00:00Z");
    let now = utc("2026-03-14T12:00:00Z");
    TestFramework::<MaintenanceWindow>::with(services_at(now))
        .given(vec![created_at(window, "2026-03-14T09:00:00Z")])
        .when(MaintenanceWindowCommand::RecordBoundaries)
        .then_expect_events(vec![
            status(true, "2026-03-14T10:00:00Z", "2026-03-14T11:00:00Z", now),
            status(false, "2026-03-14T10:00:00Z", "2026-03-14T11:00:00Z", now),
        ]);
}

#[test]
fn a_weekly_window_reports_local_wall_clock_boundaries_across_dst() {
    // Summer time: Saturday 22:00-02:00 Berlin is 20:00-00:00 UTC.
    let given = || vec![created_at(weekly_window(), "2026-10-17T12:00:00Z")];
    let at = utc("2026-10-17T20:00:01Z");
    TestFramework::<MaintenanceWindow>::with(services_at(at))
        .given(given())
        .when(MaintenanceWindowCommand::RecordBoundaries)
        .then_expect_events(vec![status(
            true,
            "2026-10-17T20:00:00Z",
            "2026-10-18T00:00:00Z",
            at,
        )]);
    // A week later, after the change to winter time (missed while no
    // closer ran: the summer occurrence's end, then the winter one, 21:00
    // to 01:00 UTC, in force now).
    let mut summer = given();
    summer.push(status(
        true,
        "2026-10-17T20:00:00Z",
        "2026-10-18T00:00:00Z",
        at,
    ));
    let winter = utc("2026-10-31T21:30:00Z");
    TestFramework::<MaintenanceWindow>::with(services_at(winter))
        .given(summer)
        .when(MaintenanceWindowCommand::RecordBoundaries)
        .then_expect_events(vec![
            status(
                false,
                "2026-10-17T20:00:00Z",
                "2026-10-18T00:00:00Z",
                winter,
            ),
            // The occurrence of the night of the change, unreported.
            status(true, "2026-10-24T20:00:00Z", "2026-10-25T01:00:00Z", winter),
            status(
                false,
                "2026-10-24T20:00:00Z",
                "2026-10-25T01:00:00Z",
                winter,
            ),
            status(true, "2026-10-31T21:00:00Z", "2026-11-01T01:00:00Z", winter),
        ]);
}

#[test]
fn deleting_or_changing_a_window_in_force_reports_its_state_at_once() {
    let in_force = || {
        vec![
            created_at(
                spec("2026-03-14T09:00:00Z", "2026-03-14T10:00:00Z"),
                "2026-03-14T09:00:00Z",
            ),
            status(true, "2026-03-14T09:00:00Z", "2026-03-14T10:00:00Z", now()),
        ]
    };
    TestFramework::<MaintenanceWindow>::with(services())
        .given(in_force())
        .when(MaintenanceWindowCommand::DeleteWindow {
            actor: actor("admin-1", Role::TenantAdmin),
        })
        .then_expect_events(vec![
            status(false, "2026-03-14T09:00:00Z", "2026-03-14T09:26:53Z", now()),
            MaintenanceWindowEvent::MaintenanceWindowDeleted {
                tenant_id: tenant_id(),
                window_id: window_id(),
                actor: actor("admin-1", Role::TenantAdmin),
                at: now(),
            },
        ]);
    // Extended: still in force, with the new end.
    let longer = spec("2026-03-14T09:00:00Z", "2026-03-14T12:00:00Z");
    TestFramework::<MaintenanceWindow>::with(services())
        .given(in_force())
        .when(MaintenanceWindowCommand::ChangeWindow {
            spec: longer.clone(),
            actor: actor("admin-1", Role::TenantAdmin),
        })
        .then_expect_events(vec![
            MaintenanceWindowEvent::MaintenanceWindowChanged {
                tenant_id: tenant_id(),
                window_id: window_id(),
                window: longer,
                actor: actor("admin-1", Role::TenantAdmin),
                at: now(),
            },
            status(true, "2026-03-14T09:00:00Z", "2026-03-14T12:00:00Z", now()),
        ]);
}
