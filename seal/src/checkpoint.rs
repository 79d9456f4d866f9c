//! Signed checkpoints: a tree size, its root, the position of its last event,
//! the signing time and the hash of the previous checkpoint, signed with
//! Ed25519. The signed message is a short text (the "body"), so that anyone
//! can read and re-check it:
//!
//! ```text
//! alertledger checkpoint v1
//! tree_size 1234
//! root_hash <64 hex digits>
//! last_position 1300
//! time_us 1763797500123456
//! previous <64 hex digits: SHA-256 of the previous body; zeros for the first>
//! ```
//!
//! (each line ends with `\n`). Keys are PKCS#8 PEM files (private) and SPKI
//! PEM (public), the formats `openssl genpkey -algorithm ed25519` uses.

use base64::Engine;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::hash::Hash;

/// The first line of every checkpoint body.
pub const BODY_HEADER: &str = "alertledger checkpoint v1";

/// A tree head, before or after signing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub tree_size: u64,
    pub root_hash: Hash,
    /// Position of the event at leaf `tree_size - 1` (0 for the empty tree).
    pub last_position: i64,
    /// When it was signed, in microseconds since the Unix epoch.
    pub time_us: i64,
    /// SHA-256 of the previous checkpoint's body (zeros for the first).
    pub previous: Hash,
}

impl Checkpoint {
    /// The signed message.
    pub fn body(&self) -> String {
        format!(
            "{BODY_HEADER}\ntree_size {}\nroot_hash {}\nlast_position {}\ntime_us {}\nprevious {}\n",
            self.tree_size, self.root_hash, self.last_position, self.time_us, self.previous
        )
    }

    /// SHA-256 of the body: what the next checkpoint names as `previous`.
    pub fn hash(&self) -> Hash {
        Hash::digest(self.body().as_bytes())
    }
}

/// A checkpoint with its signature and the id of the key that made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedCheckpoint {
    #[serde(flatten)]
    pub checkpoint: Checkpoint,
    /// [`PublicKey::key_id`] of the signer.
    pub key_id: String,
    /// Ed25519 signature of the body, base64 (standard alphabet, padded).
    #[serde(with = "signature_base64")]
    pub signature: [u8; 64],
}

/// Why a checkpoint or a key is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("checkpoint signed by key {0}, which is not a trusted key")]
    UnknownKey(String),
    #[error("the signature does not match the checkpoint")]
    BadSignature,
    #[error("not an Ed25519 key: {0}")]
    InvalidKey(String),
}

impl SignedCheckpoint {
    /// Checks the signature with whichever of `trusted` has its key id.
    pub fn verify(&self, trusted: &[PublicKey]) -> Result<(), CheckpointError> {
        let key = trusted
            .iter()
            .find(|key| key.key_id() == self.key_id)
            .ok_or_else(|| CheckpointError::UnknownKey(self.key_id.clone()))?;
        key.verify(self.checkpoint.body().as_bytes(), &self.signature)
    }
}

/// An Ed25519 public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// The first 16 hex digits of SHA-256 of the raw 32-byte key.
    pub fn key_id(&self) -> String {
        Hash::digest(self.0.as_bytes()).to_hex()[..16].to_owned()
    }

    /// The raw 32 bytes, base64.
    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.0.as_bytes())
    }

    /// SPKI PEM (`-----BEGIN PUBLIC KEY-----`).
    pub fn to_pem(&self) -> Result<String, CheckpointError> {
        self.0
            .to_public_key_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
            .map_err(|e| CheckpointError::InvalidKey(e.to_string()))
    }

    /// Parses SPKI PEM.
    pub fn from_pem(pem: &str) -> Result<Self, CheckpointError> {
        VerifyingKey::from_public_key_pem(pem.trim())
            .map(Self)
            .map_err(|e| CheckpointError::InvalidKey(e.to_string()))
    }

    /// Checks `signature` over `message` (strictly: no malleable signatures).
    pub fn verify(&self, message: &[u8], signature: &[u8; 64]) -> Result<(), CheckpointError> {
        let signature = Signature::from_bytes(signature);
        self.0
            .verify_strict(message, &signature)
            .map_err(|_| CheckpointError::BadSignature)
    }
}

/// The private key that signs checkpoints. `Debug` does not show it.
pub struct CheckpointSigner {
    key: SigningKey,
}

impl std::fmt::Debug for CheckpointSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CheckpointSigner(key_id={})", self.public_key().key_id())
    }
}

impl CheckpointSigner {
    /// From 32 random bytes (the caller brings the randomness: this crate
    /// does no I/O).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self {
            key: SigningKey::from_bytes(&seed),
        }
    }

    /// Parses a PKCS#8 PEM private key (`-----BEGIN PRIVATE KEY-----`).
    pub fn from_pem(pem: &str) -> Result<Self, CheckpointError> {
        SigningKey::from_pkcs8_pem(pem.trim())
            .map(|key| Self { key })
            .map_err(|e| CheckpointError::InvalidKey(e.to_string()))
    }

    /// PKCS#8 PEM, for `audit keygen`.
    pub fn to_pem(&self) -> Result<String, CheckpointError> {
        self.key
            .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
            .map(|pem| pem.to_string())
            .map_err(|e| CheckpointError::InvalidKey(e.to_string()))
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.key.verifying_key())
    }

    /// Signs `checkpoint`.
    pub fn sign(&self, checkpoint: Checkpoint) -> SignedCheckpoint {
        let signature = self.key.sign(checkpoint.body().as_bytes()).to_bytes();
        SignedCheckpoint {
            checkpoint,
            key_id: self.public_key().key_id(),
            signature,
        }
    }
}

mod signature_base64 {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8; 64], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<[u8; 64], D::Error> {
        let raw = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(raw.as_bytes())
            .map_err(serde::de::Error::custom)?;
        <[u8; 64]>::try_from(bytes.as_slice())
            .map_err(|_| serde::de::Error::custom("an Ed25519 signature has 64 bytes"))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn checkpoint() -> Checkpoint {
        Checkpoint {
            tree_size: 3,
            root_hash: Hash::digest(b"root"),
            last_position: 7,
            time_us: 1_763_797_500_000_000,
            previous: Hash::default(),
        }
    }

    #[test]
    fn a_signed_checkpoint_verifies_only_with_its_own_key_and_unchanged() {
        let signer = CheckpointSigner::from_seed([7; 32]);
        let other = CheckpointSigner::from_seed([8; 32]);
        let signed = signer.sign(checkpoint());
        assert_eq!(signed.verify(&[signer.public_key()]), Ok(()));
        assert!(matches!(
            signed.verify(&[other.public_key()]),
            Err(CheckpointError::UnknownKey(_))
        ));
        let mut forged = other.sign(checkpoint());
        forged.key_id = signer.public_key().key_id();
        assert_eq!(
            forged.verify(&[signer.public_key()]),
            Err(CheckpointError::BadSignature)
        );
        let mut changed = signed.clone();
        changed.checkpoint.tree_size = 4;
        assert_eq!(
            changed.verify(&[signer.public_key()]),
            Err(CheckpointError::BadSignature)
        );
    }

    #[test]
    fn keys_round_trip_through_pem_and_the_body_is_the_documented_text() {
        let signer = CheckpointSigner::from_seed([9; 32]);
        let again = CheckpointSigner::from_pem(&signer.to_pem().unwrap()).unwrap();
        assert_eq!(again.public_key(), signer.public_key());
        let public = PublicKey::from_pem(&signer.public_key().to_pem().unwrap()).unwrap();
        assert_eq!(public, signer.public_key());
        assert_eq!(public.key_id().len(), 16);
        let body = checkpoint().body();
        assert!(body.starts_with("alertledger checkpoint v1\ntree_size 3\nroot_hash "));
        assert!(body.ends_with(&format!("previous {}\n", "0".repeat(64))));
        let json = serde_json::to_string(&signer.sign(checkpoint())).unwrap();
        let back: SignedCheckpoint = serde_json::from_str(&json).unwrap();
        assert_eq!(back.verify(&[public]), Ok(()));
    }
}
