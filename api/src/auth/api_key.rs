//! Tenant API keys: random, shown once, stored only as a SHA-256 hash.
//!
//! A plain hash (not a slow password hash) is right here: keys carry 256 bits
//! of entropy, so they cannot be guessed from their hash, and the webhook path
//! must look them up in constant time per request.

use alertledger_domain::values::ApiKeyHash;
use axum::http::HeaderMap;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Every key starts with this, so leaked keys are easy to recognise and scan for.
pub const API_KEY_PREFIX: &str = "alk_";

/// A new key: the prefix and 32 random bytes from the operating system, base64url.
pub fn generate_api_key() -> String {
    let mut bytes = [0_u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!(
        "{API_KEY_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// The stored form of a key.
pub fn hash_api_key(key: &str) -> ApiKeyHash {
    let digest = hex::encode(Sha256::digest(key.as_bytes()));
    // A SHA-256 hex digest is exactly what ApiKeyHash accepts.
    ApiKeyHash::parse(&digest).unwrap_or_else(|_| unreachable!("sha256 hex is a valid ApiKeyHash"))
}

/// The key a tool sent: `Authorization: Bearer`, `X-API-Key`, or `?api_key=`
/// (for tools that cannot set headers).
pub fn presented_api_key<'a>(
    headers: &'a HeaderMap,
    query_key: Option<&'a str>,
) -> Option<&'a str> {
    let bearer = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    let header = headers
        .get("x-api-key")
        .and_then(|value| value.to_str().ok());
    bearer
        .or(header)
        .or(query_key)
        .map(str::trim)
        .filter(|key| !key.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_distinct_prefixed_and_long() {
        let (a, b) = (generate_api_key(), generate_api_key());
        assert_ne!(a, b);
        assert!(a.starts_with(API_KEY_PREFIX));
        assert_eq!(a.len(), API_KEY_PREFIX.len() + 43);
    }

    #[test]
    fn hashing_is_stable_and_hides_the_key() {
        let key = generate_api_key();
        assert_eq!(hash_api_key(&key), hash_api_key(&key));
        assert!(!hash_api_key(&key).as_str().contains(&key[4..]));
    }
}
