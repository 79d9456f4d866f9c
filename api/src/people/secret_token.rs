//! Random bearer secrets (refresh and invite tokens) and their stored form.
//!
//! A token is 32 random bytes from the operating system, base64url without
//! padding; only its SHA-256 hex digest is stored. 256 random bits cannot be
//! guessed, so a fast digest is enough (passwords, chosen by people, get
//! argon2id instead).

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A new random token.
pub fn generate() -> String {
    let mut bytes = [0_u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The stored digest of `token`.
pub fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}
