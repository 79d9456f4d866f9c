//! The tamper-evident seal of alertledger's event log, as a pure library (no
//! database, no network) so that the sealer, the API, the CLI's verifier and
//! an auditor's offline check share one definition.
//!
//! # Layout
//!
//! - [`hash`] — SHA-256 digests and the RFC 6962 leaf/node hashing (prefixes
//!   0x00 and 0x01).
//! - [`encoding`] — the canonical encoding of one stored event, and its leaf hash.
//! - [`tree`] — the append-only Merkle tree: compact ranges (what the sealer
//!   keeps), roots of arbitrary ranges, inclusion and consistency proofs and
//!   their verification (RFC 9162 §2.1.3–2.1.4).
//! - [`checkpoint`] — signed tree heads (Ed25519), chained by hash.
//! - [`bundle`] — the export bundle of one tenant's events and its offline
//!   verification (format: docs/audit-bundle.md).

pub mod bundle;
pub mod checkpoint;
pub mod encoding;
pub mod hash;
pub mod tree;

pub use checkpoint::{Checkpoint, CheckpointSigner, PublicKey, SignedCheckpoint};
pub use encoding::EventFields;
pub use hash::Hash;
pub use tree::CompactRange;
