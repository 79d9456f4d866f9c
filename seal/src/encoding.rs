//! The canonical encoding of one stored event: the exact bytes whose hash is
//! the event's leaf in the Merkle tree. docs/audit-bundle.md specifies it for
//! auditors; a change here is a new `ENCODING_VERSION`, never an edit.
//!
//! ```text
//! leaf data   = 0x01                      encoding version (1 byte)
//!               position                  i64, big-endian (8 bytes)
//!               tenant id                 UUID, 16 bytes
//!               body digest               SHA-256(body), 32 bytes
//! body        = str(aggregate type) || str(aggregate id) || i64 sequence ||
//!               str(event type) || str(event version) ||
//!               str(payload) || str(metadata) || i64 recorded_at (µs since 1970-01-01 UTC)
//! str(x)      = u32 big-endian byte length of x || the UTF-8 bytes of x
//! leaf hash   = SHA-256(0x00 || leaf data)
//! ```
//!
//! Payload and metadata are the JSON text exactly as PostgreSQL renders the
//! stored `jsonb` (never re-serialized), so any verifier hashes the very bytes
//! it was handed. The body sits behind its own digest so that a tenant's
//! bundle can account for another tenant's leaf (position, tenant, digest)
//! without revealing its content.

use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::hash::{leaf_hash, Hash, LEAF_PREFIX};

/// The version byte that opens every leaf's data.
pub const ENCODING_VERSION: u8 = 0x01;

/// Length of a leaf's data: version, position, tenant, body digest.
pub const LEAF_DATA_LEN: usize = 1 + 8 + 16 + 32;

/// The sealed fields of one stored event, borrowed from wherever they live.
#[derive(Debug, Clone, Copy)]
pub struct EventFields<'a> {
    pub position: i64,
    pub tenant_id: Uuid,
    pub aggregate_type: &'a str,
    pub aggregate_id: &'a str,
    pub sequence: i64,
    pub event_type: &'a str,
    pub event_version: &'a str,
    /// The payload's JSON text as PostgreSQL renders the stored `jsonb`.
    pub payload: &'a [u8],
    /// The metadata's JSON text as PostgreSQL renders the stored `jsonb`.
    pub metadata: &'a [u8],
    /// `recorded_at` in microseconds since the Unix epoch (PostgreSQL's precision).
    pub recorded_at_us: i64,
}

impl EventFields<'_> {
    /// SHA-256 of the body (every field but position and tenant).
    pub fn body_digest(&self) -> Hash {
        let mut hasher = Sha256::new();
        field(&mut hasher, self.aggregate_type.as_bytes());
        field(&mut hasher, self.aggregate_id.as_bytes());
        hasher.update(self.sequence.to_be_bytes());
        field(&mut hasher, self.event_type.as_bytes());
        field(&mut hasher, self.event_version.as_bytes());
        field(&mut hasher, self.payload);
        field(&mut hasher, self.metadata);
        hasher.update(self.recorded_at_us.to_be_bytes());
        Hash(hasher.finalize().into())
    }

    /// The event's leaf hash in the tree.
    pub fn leaf_hash(&self) -> Hash {
        sealed_leaf_hash(self.position, self.tenant_id, &self.body_digest())
    }
}

/// The leaf data of an event known by position, tenant and body digest.
pub fn leaf_data(position: i64, tenant_id: Uuid, body_digest: &Hash) -> [u8; LEAF_DATA_LEN] {
    let mut data = [0_u8; LEAF_DATA_LEN];
    data[0] = ENCODING_VERSION;
    data[1..9].copy_from_slice(&position.to_be_bytes());
    data[9..25].copy_from_slice(tenant_id.as_bytes());
    data[25..].copy_from_slice(&body_digest.0);
    data
}

/// The leaf hash of an event known by position, tenant and body digest (how a
/// bundle accounts for other tenants' events).
pub fn sealed_leaf_hash(position: i64, tenant_id: Uuid, body_digest: &Hash) -> Hash {
    debug_assert_eq!(LEAF_PREFIX, 0);
    leaf_hash(&leaf_data(position, tenant_id, body_digest))
}

fn field(hasher: &mut Sha256, bytes: &[u8]) {
    // An event field over 4 GiB cannot be stored (jsonb and text stop at 1 GB).
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    hasher.update(len.to_be_bytes());
    hasher.update(bytes);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn sample() -> EventFields<'static> {
        EventFields {
            position: 42,
            tenant_id: Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_0001),
            aggregate_type: "Alert",
            aggregate_id: "a1",
            sequence: 1,
            event_type: "AlertReceived",
            event_version: "1.0",
            payload: br#"{"AlertReceived": {"tenant_id": "x"}}"#,
            metadata: b"{}",
            recorded_at_us: 1_763_797_500_123_456,
        }
    }

    #[test]
    fn the_leaf_is_the_rfc6962_hash_of_the_documented_bytes() {
        let event = sample();
        // Built by hand from the layout in the module docs.
        let mut body = Vec::new();
        for part in [&b"Alert"[..], b"a1"] {
            body.extend((part.len() as u32).to_be_bytes());
            body.extend(part);
        }
        body.extend(1_i64.to_be_bytes());
        for part in [
            &b"AlertReceived"[..],
            b"1.0",
            br#"{"AlertReceived": {"tenant_id": "x"}}"#,
            b"{}",
        ] {
            body.extend((part.len() as u32).to_be_bytes());
            body.extend(part);
        }
        body.extend(1_763_797_500_123_456_i64.to_be_bytes());
        let mut leaf = vec![0x00, 0x01];
        leaf.extend(42_i64.to_be_bytes());
        leaf.extend(event.tenant_id.as_bytes());
        leaf.extend(Hash::digest(&body).0);
        assert_eq!(event.body_digest(), Hash::digest(&body));
        assert_eq!(event.leaf_hash(), Hash::digest(&leaf));
    }

    #[test]
    fn every_field_changes_the_leaf() {
        let base = sample().leaf_hash();
        let mut variants = vec![];
        let mut e = sample();
        e.position = 43;
        variants.push(e.leaf_hash());
        let mut e = sample();
        e.tenant_id = Uuid::nil();
        variants.push(e.leaf_hash());
        let mut e = sample();
        e.aggregate_type = "Alerts";
        variants.push(e.leaf_hash());
        let mut e = sample();
        e.aggregate_id = "a2";
        variants.push(e.leaf_hash());
        let mut e = sample();
        e.sequence = 2;
        variants.push(e.leaf_hash());
        let mut e = sample();
        e.event_type = "AlertAcknowledged";
        variants.push(e.leaf_hash());
        let mut e = sample();
        e.event_version = "1.1";
        variants.push(e.leaf_hash());
        let mut e = sample();
        e.payload = br#"{"AlertReceived": {"tenant_id": "y"}}"#;
        variants.push(e.leaf_hash());
        let mut e = sample();
        e.metadata = br#"{"a": 1}"#;
        variants.push(e.leaf_hash());
        let mut e = sample();
        e.recorded_at_us += 1;
        variants.push(e.leaf_hash());
        // Moving bytes between adjacent fields changes it too (length prefixes).
        let mut e = sample();
        e.aggregate_type = "Alerta";
        e.aggregate_id = "1";
        variants.push(e.leaf_hash());
        for (i, variant) in variants.iter().enumerate() {
            assert_ne!(*variant, base, "variant {i}");
        }
    }
}
