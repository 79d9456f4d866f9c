//! SHA-256 digests and RFC 6962 hashing: a leaf is `SHA-256(0x00 || data)`, an
//! interior node `SHA-256(0x01 || left || right)`, so a leaf can never be
//! passed off as a node (second-preimage resistance of the tree).

use std::fmt;

use sha2::{Digest, Sha256};

/// A SHA-256 digest. Shown and serialized as lowercase hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash(pub [u8; 32]);

/// The prefix of a leaf's hash input (RFC 6962 §2.1).
pub const LEAF_PREFIX: u8 = 0x00;
/// The prefix of an interior node's hash input (RFC 6962 §2.1).
pub const NODE_PREFIX: u8 = 0x01;

impl Hash {
    /// SHA-256 of `data`.
    pub fn digest(data: &[u8]) -> Self {
        Self(Sha256::digest(data).into())
    }

    /// The root of the empty tree: SHA-256 of nothing.
    pub fn empty_root() -> Self {
        Self::digest(&[])
    }

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hex digits.
    pub fn from_hex(raw: &str) -> Result<Self, HashParseError> {
        let mut bytes = [0_u8; 32];
        hex::decode_to_slice(raw.trim(), &mut bytes).map_err(|_| HashParseError)?;
        Ok(Self(bytes))
    }

    /// From a 32-byte slice (e.g. a `bytea` column).
    pub fn from_slice(raw: &[u8]) -> Result<Self, HashParseError> {
        <[u8; 32]>::try_from(raw)
            .map(Self)
            .map_err(|_| HashParseError)
    }
}

/// A string or byte string that is not a SHA-256 digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a SHA-256 digest (expected 32 bytes, 64 hex digits)")]
pub struct HashParseError;

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl serde::Serialize for Hash {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for Hash {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::from_hex(&raw).map_err(serde::de::Error::custom)
    }
}

/// RFC 6962 leaf hash of `data`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([LEAF_PREFIX]);
    hasher.update(data);
    Hash(hasher.finalize().into())
}

/// RFC 6962 interior node hash of two children.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([NODE_PREFIX]);
    hasher.update(left.0);
    hasher.update(right.0);
    Hash(hasher.finalize().into())
}
