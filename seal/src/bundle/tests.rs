#![allow(clippy::unwrap_used)]

use super::*;
use crate::checkpoint::{Checkpoint, CheckpointSigner};

const MINE: Uuid = Uuid::from_u128(1);
const THEIRS: Uuid = Uuid::from_u128(2);

fn event(leaf_index: u64, tenant_id: Uuid) -> BundleEvent {
    BundleEvent {
        leaf_index,
        position: leaf_index as i64 * 3 + 1,
        tenant_id,
        aggregate_type: "Alert".to_owned(),
        aggregate_id: format!("alert-{leaf_index}"),
        sequence: 1,
        event_type: "AlertReceived".to_owned(),
        event_version: "1.0".to_owned(),
        recorded_at_us: 1_763_797_500_000_000 + leaf_index as i64,
        payload: format!(
            r#"{{"AlertReceived": {{"n": {leaf_index}, "tenant_id": "{tenant_id}"}}}}"#
        ),
        metadata: r#"{"actor": "api_key:k"}"#.to_owned(),
    }
}

/// 40 events alternating tenants; a bundle of leaves 10..30 against a
/// checkpoint of 35 leaves.
fn bundle() -> (BundleFiles, CheckpointSigner) {
    let signer = CheckpointSigner::from_seed([3; 32]);
    let all: Vec<BundleEvent> = (0..40)
        .map(|i| event(i, if i % 3 == 0 { MINE } else { THEIRS }))
        .collect();
    let leaf = |e: &BundleEvent| BundleLeaf {
        leaf_index: e.leaf_index,
        position: e.position,
        tenant_id: e.tenant_id,
        body_digest: e.fields().body_digest(),
    };
    let mut prefix = CompactRange::new();
    for e in &all[..10] {
        prefix.append(e.fields().leaf_hash());
    }
    let mut tree = prefix.clone();
    for e in &all[10..35] {
        tree.append(e.fields().leaf_hash());
    }
    let checkpoint = signer.sign(Checkpoint {
        tree_size: 35,
        root_hash: tree.root(),
        last_position: all[34].position,
        time_us: 1,
        previous: Hash::default(),
    });
    let parts = BundleParts {
        tenant_id: MINE,
        first_leaf: 10,
        end_leaf: 30,
        prefix,
        leaves: all[10..35].iter().map(leaf).collect(),
        events: all[10..30]
            .iter()
            .filter(|e| e.tenant_id == MINE)
            .cloned()
            .collect(),
        checkpoint,
        public_key: signer.public_key(),
    };
    (parts.to_files().unwrap(), signer)
}

#[test]
fn an_untouched_bundle_verifies_and_says_what_it_proves() {
    let (files, signer) = bundle();
    let report = verify_bundle(&files, Some(&signer.public_key())).unwrap();
    assert_eq!(report.events, 6); // leaves 12, 15, ..., 27
    assert_eq!(
        (report.first_leaf, report.end_leaf, report.tree_size),
        (10, 30, 35)
    );
    assert_eq!(report.first_position, Some(37));
}

#[test]
fn changing_any_single_byte_of_any_file_fails_verification() {
    let (files, signer) = bundle();
    let pinned = signer.public_key();
    let texts = [
        files.manifest.clone(),
        files.events.clone(),
        files.leaves.clone(),
        files.public_key.clone(),
    ];
    for (which, text) in texts.iter().enumerate() {
        // A spread of bytes across each file (every one would be slow in debug builds).
        let step = (text.len() / 120).max(1);
        for at in (0..text.len()).step_by(step) {
            let mut bytes = text.clone().into_bytes();
            // Flip to another printable character so the text stays UTF-8.
            bytes[at] = if bytes[at] == b'1' { b'2' } else { b'1' };
            let Ok(altered) = String::from_utf8(bytes) else {
                continue;
            };
            let mut copy = files.clone();
            match which {
                0 => copy.manifest = altered,
                1 => copy.events = altered,
                2 => copy.leaves = altered,
                _ => copy.public_key = altered,
            }
            assert!(
                verify_bundle(&copy, Some(&pinned)).is_err(),
                "file {which}, byte {at} changed and still verified"
            );
        }
    }
}

#[test]
fn a_left_out_event_of_the_tenant_is_named() {
    let (mut files, _) = bundle();
    let mut lines: Vec<&str> = files.events.lines().collect();
    let removed = lines.remove(2);
    let removed: BundleEvent = serde_json::from_str(removed).unwrap();
    files.events = lines.iter().map(|l| format!("{l}\n")).collect();
    files.manifest = files.manifest.replace("\"events\": 6", "\"events\": 5");
    assert_eq!(
        verify_bundle(&files, None),
        Err(BundleError::MissingEvent {
            position: removed.position,
            leaf_index: removed.leaf_index
        })
    );
}

#[test]
fn a_bundle_signed_by_another_key_fails_against_the_pinned_key() {
    let (files, _) = bundle();
    let other = CheckpointSigner::from_seed([4; 32]);
    assert!(matches!(
        verify_bundle(&files, Some(&other.public_key())),
        Err(BundleError::UnpinnedKey { .. })
    ));
}
