//! Feed kinds and the domain's event types stay in step: every event type is
//! in exactly one feed kind or explicitly delivered unnamed (with a reason),
//! every kind names only real event types, and docs/live-feed.md documents
//! exactly the kinds there are.

use std::collections::{BTreeSet, HashMap};

use alertledger_api::feed::{FEED_KINDS, UNNAMED_IN_FEED, UNNAMED_KIND};
use alertledger_domain::event_types;

fn every_event_type() -> BTreeSet<&'static str> {
    event_types::ALL
        .iter()
        .flat_map(|(_, types)| types.iter().copied())
        .collect()
}

#[test]
fn every_event_type_has_exactly_one_feed_kind_or_a_reason_to_have_none() {
    let mut placed: HashMap<&str, Vec<&str>> = HashMap::new();
    for (kind, types) in FEED_KINDS {
        for event_type in *types {
            placed.entry(event_type).or_default().push(kind);
        }
    }
    for (event_type, reason) in UNNAMED_IN_FEED {
        assert!(
            !reason.trim().is_empty(),
            "{event_type} is unnamed without a reason"
        );
        placed.entry(event_type).or_default().push(UNNAMED_KIND);
    }
    for event_type in every_event_type() {
        match placed.get(event_type).map(Vec::as_slice) {
            Some([_]) => {}
            None | Some([]) => panic!(
                "{event_type} is in no feed kind and not listed in UNNAMED_IN_FEED with a reason"
            ),
            Some(kinds) => panic!("{event_type} is in several kinds: {kinds:?}"),
        }
    }
}

#[test]
fn feed_kinds_name_only_event_types_the_domain_has() {
    let known = every_event_type();
    for (kind, types) in FEED_KINDS {
        assert!(!types.is_empty(), "feed kind {kind} covers no event type");
        for event_type in *types {
            assert!(
                known.contains(event_type),
                "feed kind {kind} names {event_type}, which no aggregate records"
            );
        }
    }
    for (event_type, _) in UNNAMED_IN_FEED {
        assert!(
            known.contains(event_type),
            "unknown event type {event_type}"
        );
    }
}

/// The kinds in the first column of docs/live-feed.md's table of types.
fn documented_kinds() -> BTreeSet<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/live-feed.md");
    let doc = std::fs::read_to_string(path).expect("read docs/live-feed.md");
    let table = doc
        .split("| type | event types |")
        .nth(1)
        .expect("docs/live-feed.md has the table of feed kinds");
    table
        .lines()
        .skip(2)
        .map_while(|line| line.trim().strip_prefix("| `"))
        .filter_map(|row| row.split('`').next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_documented_feed_kinds_are_exactly_the_ones_that_match_events() {
    let mut real: BTreeSet<String> = FEED_KINDS
        .iter()
        .map(|(kind, _)| (*kind).to_owned())
        .collect();
    if !UNNAMED_IN_FEED.is_empty() {
        real.insert(UNNAMED_KIND.to_owned());
    }
    assert_eq!(documented_kinds(), real);
}
