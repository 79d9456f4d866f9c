//! The audit bundle: one tenant's events over a range of the log, with what
//! proves them included (and complete) in a signed checkpoint of the global
//! tree, verifiable offline. The format is specified in docs/audit-bundle.md.
//!
//! Files of a bundle directory:
//! - `manifest.json` — tenant, leaf range, the compact range of the leaves
//!   before it, and the signed checkpoint;
//! - `events.ndjson` — the tenant's events in the range, every sealed field;
//! - `leaves.ndjson` — every leaf from the range's start to the checkpoint's
//!   size as (index, position, tenant, body digest): enough to rebuild the
//!   root and to show that no event of the tenant was left out, without any
//!   other tenant's payload;
//! - `public-key.pem` — the signing key (compare it with the one the service
//!   publishes).
//!
//! Each file must be byte for byte what the exporter writes (compact JSON, one
//! object per line, `\n` after each): the verifier re-encodes what it parsed
//! and compares, so even a change that means nothing is detected.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::checkpoint::{CheckpointError, PublicKey, SignedCheckpoint};
use crate::encoding::{sealed_leaf_hash, EventFields};
use crate::hash::Hash;
use crate::tree::{CompactRange, ProofError};

/// The `format` of a manifest this version writes and reads.
pub const FORMAT: &str = "alertledger-audit-bundle/1";
pub const MANIFEST_FILE: &str = "manifest.json";
pub const EVENTS_FILE: &str = "events.ndjson";
pub const LEAVES_FILE: &str = "leaves.ndjson";
pub const PUBLIC_KEY_FILE: &str = "public-key.pem";

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: String,
    pub tenant_id: Uuid,
    /// The exported range of leaves, `first_leaf..end_leaf`: every event of the
    /// tenant in it is in `events.ndjson`.
    pub first_leaf: u64,
    pub end_leaf: u64,
    /// How many events `events.ndjson` holds.
    pub events: u64,
    /// Roots of the perfect subtrees of leaves `0..first_leaf`, largest first.
    pub prefix: Vec<Hash>,
    /// The checkpoint everything is proven against; `leaves.ndjson` runs up
    /// to its tree size.
    pub checkpoint: SignedCheckpoint,
}

/// One line of `events.ndjson`: every sealed field of one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleEvent {
    pub leaf_index: u64,
    pub position: i64,
    pub tenant_id: Uuid,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    /// Microseconds since the Unix epoch.
    pub recorded_at_us: i64,
    /// The payload's JSON text, exactly as sealed (a string, not an object).
    pub payload: String,
    /// The metadata's JSON text, exactly as sealed.
    pub metadata: String,
}

impl BundleEvent {
    pub fn fields(&self) -> EventFields<'_> {
        EventFields {
            position: self.position,
            tenant_id: self.tenant_id,
            aggregate_type: &self.aggregate_type,
            aggregate_id: &self.aggregate_id,
            sequence: self.sequence,
            event_type: &self.event_type,
            event_version: &self.event_version,
            payload: self.payload.as_bytes(),
            metadata: self.metadata.as_bytes(),
            recorded_at_us: self.recorded_at_us,
        }
    }
}

/// One line of `leaves.ndjson`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleLeaf {
    pub leaf_index: u64,
    pub position: i64,
    pub tenant_id: Uuid,
    pub body_digest: Hash,
}

impl BundleLeaf {
    pub fn leaf_hash(&self) -> Hash {
        sealed_leaf_hash(self.position, self.tenant_id, &self.body_digest)
    }
}

/// The text of one NDJSON line (with its `\n`) or of the manifest.
pub fn line<T: Serialize>(value: &T) -> Result<String, serde_json::Error> {
    let mut line = serde_json::to_string(value)?;
    line.push('\n');
    Ok(line)
}

/// The text of `manifest.json`.
pub fn manifest_text(manifest: &Manifest) -> Result<String, serde_json::Error> {
    let mut text = serde_json::to_string_pretty(manifest)?;
    text.push('\n');
    Ok(text)
}

/// Everything a bundle holds, before it is written.
#[derive(Debug, Clone)]
pub struct BundleParts {
    pub tenant_id: Uuid,
    pub first_leaf: u64,
    pub end_leaf: u64,
    /// The tree of leaves `0..first_leaf`.
    pub prefix: CompactRange,
    /// Leaves `first_leaf..checkpoint.tree_size`.
    pub leaves: Vec<BundleLeaf>,
    /// The tenant's events among leaves `first_leaf..end_leaf`, in leaf order.
    pub events: Vec<BundleEvent>,
    pub checkpoint: SignedCheckpoint,
    pub public_key: PublicKey,
}

impl BundleParts {
    /// The files' exact text.
    pub fn to_files(&self) -> Result<BundleFiles, BundleError> {
        let manifest = Manifest {
            format: FORMAT.to_owned(),
            tenant_id: self.tenant_id,
            first_leaf: self.first_leaf,
            end_leaf: self.end_leaf,
            events: self.events.len() as u64,
            prefix: self.prefix.hashes().to_vec(),
            checkpoint: self.checkpoint.clone(),
        };
        let json = |e: serde_json::Error| malformed(MANIFEST_FILE, e);
        let mut events = String::new();
        for event in &self.events {
            events.push_str(&line(event).map_err(json)?);
        }
        let mut leaves = String::new();
        for leaf in &self.leaves {
            leaves.push_str(&line(leaf).map_err(json)?);
        }
        Ok(BundleFiles {
            manifest: manifest_text(&manifest).map_err(json)?,
            events,
            leaves,
            public_key: self.public_key.to_pem()?,
        })
    }
}

/// A bundle's files, read into memory.
#[derive(Debug, Clone)]
pub struct BundleFiles {
    pub manifest: String,
    pub events: String,
    pub leaves: String,
    pub public_key: String,
}

/// What a verified bundle proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleReport {
    pub tenant_id: Uuid,
    pub events: u64,
    pub first_leaf: u64,
    pub end_leaf: u64,
    pub first_position: Option<i64>,
    pub last_position: Option<i64>,
    pub tree_size: u64,
    pub root_hash: Hash,
    pub key_id: String,
}

/// Why a bundle does not verify; names the file, line and position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    #[error("{file}: {reason}")]
    Malformed { file: &'static str, reason: String },
    #[error("{file} line {line}: {reason}")]
    Line {
        file: &'static str,
        line: usize,
        reason: String,
    },
    #[error("event at position {position} (leaf {leaf_index}): {reason}")]
    Event {
        position: i64,
        leaf_index: u64,
        reason: String,
    },
    #[error("the event at position {position} (leaf {leaf_index}) belongs to the tenant but is missing from events.ndjson")]
    MissingEvent { position: i64, leaf_index: u64 },
    #[error("the public key is not the pinned one (bundle {found}, pinned {pinned})")]
    UnpinnedKey { found: String, pinned: String },
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    #[error("the leaves do not rebuild the checkpoint's root: {0}")]
    Tree(#[from] ProofError),
}

fn malformed(file: &'static str, reason: impl std::fmt::Display) -> BundleError {
    BundleError::Malformed {
        file,
        reason: reason.to_string(),
    }
}

/// Checks a bundle offline: every file canonical, the checkpoint signed by
/// the bundle's key (and that key the pinned one, if given), every event's
/// leaf recomputed and found at its index, no event of the tenant in the
/// range left out, and the leaves rebuilding the checkpoint's root.
pub fn verify_bundle(
    files: &BundleFiles,
    pinned: Option<&PublicKey>,
) -> Result<BundleReport, BundleError> {
    let manifest: Manifest =
        serde_json::from_str(&files.manifest).map_err(|e| malformed(MANIFEST_FILE, e))?;
    if manifest_text(&manifest).map_err(|e| malformed(MANIFEST_FILE, e))? != files.manifest {
        return Err(malformed(MANIFEST_FILE, "not in the exporter's exact form"));
    }
    if manifest.format != FORMAT {
        return Err(malformed(
            MANIFEST_FILE,
            format!("format {:?} is not {FORMAT:?}", manifest.format),
        ));
    }

    let key = PublicKey::from_pem(&files.public_key)?;
    if key.to_pem()? != files.public_key {
        return Err(malformed(
            PUBLIC_KEY_FILE,
            "not in the exporter's exact form",
        ));
    }
    if let Some(pinned) = pinned {
        if *pinned != key {
            return Err(BundleError::UnpinnedKey {
                found: key.key_id(),
                pinned: pinned.key_id(),
            });
        }
    }
    manifest.checkpoint.verify(std::slice::from_ref(&key))?;
    let checkpoint = &manifest.checkpoint.checkpoint;
    let size = checkpoint.tree_size;
    if !(manifest.first_leaf <= manifest.end_leaf && manifest.end_leaf <= size) {
        return Err(malformed(
            MANIFEST_FILE,
            format!(
                "leaf range {}..{} is not within the checkpoint's {size} leaves",
                manifest.first_leaf, manifest.end_leaf
            ),
        ));
    }

    // The leaves from the range's start to the checkpoint's size.
    let mut tree = CompactRange::from_parts(manifest.first_leaf, manifest.prefix.clone())?;
    let mut leaves = Vec::new();
    for (n, raw) in lines(&files.leaves, LEAVES_FILE)?.into_iter().enumerate() {
        let leaf: BundleLeaf = parse_line(raw, LEAVES_FILE, n + 1)?;
        let expected = manifest.first_leaf + n as u64;
        if leaf.leaf_index != expected {
            return Err(BundleError::Line {
                file: LEAVES_FILE,
                line: n + 1,
                reason: format!("leaf {} where leaf {expected} belongs", leaf.leaf_index),
            });
        }
        tree.append(leaf.leaf_hash());
        leaves.push(leaf);
    }
    if tree.size() != size {
        return Err(malformed(
            LEAVES_FILE,
            format!("runs to leaf {} but the checkpoint has {size}", tree.size()),
        ));
    }
    if let Some(last) = leaves.last() {
        if last.position != checkpoint.last_position {
            return Err(malformed(
                LEAVES_FILE,
                format!(
                    "the last leaf is position {}, the checkpoint says {}",
                    last.position, checkpoint.last_position
                ),
            ));
        }
    }

    // Every event recomputed and matched to its leaf.
    let mut found = vec![false; leaves.len()];
    let mut previous: Option<u64> = None;
    let mut count = 0_u64;
    let (mut first_position, mut last_position) = (None, None);
    for (n, raw) in lines(&files.events, EVENTS_FILE)?.into_iter().enumerate() {
        let event: BundleEvent = parse_line(raw, EVENTS_FILE, n + 1)?;
        let fail = |reason: String| BundleError::Event {
            position: event.position,
            leaf_index: event.leaf_index,
            reason,
        };
        if event.tenant_id != manifest.tenant_id {
            return Err(fail(format!("belongs to tenant {}", event.tenant_id)));
        }
        if previous.is_some_and(|p| event.leaf_index <= p) {
            return Err(fail("out of leaf order".to_owned()));
        }
        previous = Some(event.leaf_index);
        if !(manifest.first_leaf..manifest.end_leaf).contains(&event.leaf_index) {
            return Err(fail("outside the exported leaf range".to_owned()));
        }
        let slot = (event.leaf_index - manifest.first_leaf) as usize;
        let leaf = &leaves[slot];
        if leaf.position != event.position || leaf.tenant_id != event.tenant_id {
            return Err(fail(format!(
                "leaf {} is position {} of tenant {}",
                leaf.leaf_index, leaf.position, leaf.tenant_id
            )));
        }
        if event.fields().body_digest() != leaf.body_digest {
            return Err(fail(
                "its content does not hash to the sealed leaf (altered)".to_owned(),
            ));
        }
        found[slot] = true;
        count += 1;
        first_position.get_or_insert(event.position);
        last_position = Some(event.position);
    }
    if count != manifest.events {
        return Err(malformed(
            MANIFEST_FILE,
            format!("says {} events, events.ndjson has {count}", manifest.events),
        ));
    }
    let range = (manifest.end_leaf - manifest.first_leaf) as usize;
    if let Some((slot, leaf)) = leaves[..range]
        .iter()
        .enumerate()
        .find(|(slot, leaf)| leaf.tenant_id == manifest.tenant_id && !found[*slot])
    {
        debug_assert!(!found[slot]);
        return Err(BundleError::MissingEvent {
            position: leaf.position,
            leaf_index: leaf.leaf_index,
        });
    }

    if tree.root() != checkpoint.root_hash {
        return Err(BundleError::Tree(ProofError::RootMismatch));
    }
    Ok(BundleReport {
        tenant_id: manifest.tenant_id,
        events: count,
        first_leaf: manifest.first_leaf,
        end_leaf: manifest.end_leaf,
        first_position,
        last_position,
        tree_size: size,
        root_hash: checkpoint.root_hash,
        key_id: key.key_id(),
    })
}

/// The lines of an NDJSON file, each ending in `\n`.
fn lines<'a>(text: &'a str, file: &'static str) -> Result<Vec<&'a str>, BundleError> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let Some(body) = text.strip_suffix('\n') else {
        return Err(malformed(file, "does not end with a newline"));
    };
    Ok(body.split('\n').collect())
}

fn parse_line<T: Serialize + for<'de> Deserialize<'de>>(
    raw: &str,
    file: &'static str,
    number: usize,
) -> Result<T, BundleError> {
    let fail = |reason: String| BundleError::Line {
        file,
        line: number,
        reason,
    };
    let value: T = serde_json::from_str(raw).map_err(|e| fail(e.to_string()))?;
    let again = serde_json::to_string(&value).map_err(|e| fail(e.to_string()))?;
    if again != raw {
        return Err(fail("not in the exporter's exact form".to_owned()));
    }
    Ok(value)
}

#[cfg(test)]
mod tests;
