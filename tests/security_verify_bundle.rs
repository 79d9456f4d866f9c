//! Issue 16, item 6: `audit verify-bundle` no longer trusts the key a bundle
//! carries. An attacker who alters a tenant's events can rebuild the tree,
//! sign a checkpoint with a key of their own and put that key in the
//! bundle: such a bundle is self-consistent, so the old unpinned check
//! passed it. Now, without `--public-key`, the binary refuses to vouch for
//! it; `--trust-bundle-key` checks consistency only, with a warning on
//! stderr; against the service's key the forgery fails and a genuine bundle
//! verifies.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};

use alertledger_seal::bundle::{
    verify_bundle, BundleEvent, BundleFiles, BundleLeaf, BundleParts, EVENTS_FILE, LEAVES_FILE,
    MANIFEST_FILE, PUBLIC_KEY_FILE,
};
use alertledger_seal::{Checkpoint, CheckpointSigner, CompactRange, Hash};
use uuid::Uuid;

const TENANT: Uuid = Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_0001);

fn event(leaf_index: u64, message: &str) -> BundleEvent {
    BundleEvent {
        leaf_index,
        position: leaf_index as i64 + 1,
        tenant_id: TENANT,
        aggregate_type: "Alert".to_owned(),
        aggregate_id: format!("alert-{leaf_index}"),
        sequence: 1,
        event_type: "AlertReceived".to_owned(),
        event_version: "1.0".to_owned(),
        recorded_at_us: 1_763_797_500_000_000 + leaf_index as i64,
        payload: format!(
            r#"{{"AlertReceived": {{"message": "{message}", "tenant_id": "{TENANT}"}}}}"#
        ),
        metadata: "{}".to_owned(),
    }
}

/// A bundle of three events signed by `signer`, the second saying `middle`.
fn bundle(signer: &CheckpointSigner, middle: &str) -> BundleFiles {
    let events = vec![event(0, "disk 91%"), event(1, middle), event(2, "disk 60%")];
    let mut tree = CompactRange::new();
    for e in &events {
        tree.append(e.fields().leaf_hash());
    }
    let checkpoint = signer.sign(Checkpoint {
        tree_size: 3,
        root_hash: tree.root(),
        last_position: events[2].position,
        time_us: 1,
        previous: Hash::default(),
    });
    BundleParts {
        tenant_id: TENANT,
        first_leaf: 0,
        end_leaf: 3,
        prefix: CompactRange::new(),
        leaves: events
            .iter()
            .map(|e| BundleLeaf {
                leaf_index: e.leaf_index,
                position: e.position,
                tenant_id: e.tenant_id,
                body_digest: e.fields().body_digest(),
            })
            .collect(),
        events,
        checkpoint,
        public_key: signer.public_key(),
    }
    .to_files()
    .unwrap()
}

fn write(dir: &Path, files: &BundleFiles) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, text) in [
        (MANIFEST_FILE, &files.manifest),
        (EVENTS_FILE, &files.events),
        (LEAVES_FILE, &files.leaves),
        (PUBLIC_KEY_FILE, &files.public_key),
    ] {
        std::fs::write(dir.join(name), text).unwrap();
    }
}

fn verify(args: &[&str]) -> (bool, String, String) {
    let output = support::process::alertledger()
        .args(["audit", "verify-bundle"])
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_bundle_resigned_with_an_attackers_key_is_refused_without_the_services_key() {
    let scratch =
        Scratch(std::env::temp_dir().join(format!("alertledger-forged-{}", Uuid::new_v4())));
    let service = CheckpointSigner::from_seed([7; 32]);
    let attacker = CheckpointSigner::from_seed([66; 32]);
    let genuine = scratch.0.join("genuine");
    let forged = scratch.0.join("forged");
    write(&genuine, &bundle(&service, "disk 99%: database stopped"));
    // The altered history, re-signed and shipped with the attacker's key.
    let forgery = bundle(&attacker, "all fine");
    write(&forged, &forgery);
    let service_key = scratch.0.join("service.pem");
    std::fs::write(&service_key, service.public_key().to_pem().unwrap()).unwrap();
    let (forged_arg, genuine_arg, key_arg) = (
        forged.to_str().unwrap(),
        genuine.to_str().unwrap(),
        service_key.to_str().unwrap(),
    );

    // The old check (the bundle's own key) passes the forgery...
    assert!(verify_bundle(&forgery, None).is_ok());
    // ...so the binary no longer makes it without being told which key to trust.
    let (ok, stdout, stderr) = verify(&[forged_arg]);
    assert!(!ok, "an unpinned forgery was accepted: {stdout}");
    assert!(stdout.contains("bundle NOT CHECKED"), "{stdout}");
    assert!(stderr.contains("--public-key"), "{stderr}");
    let (ok, _, _) = verify(&[genuine_arg]);
    assert!(!ok, "an unpinned bundle was vouched for");

    // Against the service's key the forgery fails and the genuine bundle verifies.
    let (ok, stdout, _) = verify(&[forged_arg, "--public-key", key_arg]);
    assert!(!ok, "{stdout}");
    assert!(stdout.contains("bundle FAILED"), "{stdout}");
    let (ok, stdout, stderr) = verify(&[genuine_arg, "--public-key", key_arg]);
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.starts_with("bundle OK"), "{stdout}");
    assert!(!stderr.contains("WARNING"), "{stderr}");

    // Trusting the bundle's key is explicit and warned about.
    let (ok, stdout, stderr) = verify(&[forged_arg, "--trust-bundle-key"]);
    assert!(ok, "{stdout}{stderr}");
    assert!(stderr.contains("WARNING"), "{stderr}");
    assert!(stdout.contains("UNPINNED"), "{stdout}");
    assert!(
        stdout.contains(&attacker.public_key().key_id().to_string()),
        "the report names the key it checked against: {stdout}"
    );
    // Both at once is a usage error.
    let (ok, _, _) = verify(&[genuine_arg, "--public-key", key_arg, "--trust-bundle-key"]);
    assert!(!ok);
}
