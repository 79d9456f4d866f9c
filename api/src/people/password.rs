//! Password hashing with argon2id, and what a password must be.
//!
//! Parameters follow OWASP's Password Storage Cheat Sheet's first argon2id
//! configuration: m = 19,456 KiB (19 MiB), t = 2 iterations, p = 1 lane, a
//! 16-byte random salt and a 32-byte output, argon2 version 0x13. They are
//! written into every PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`), so
//! stored hashes keep verifying if the parameters are raised later.
//!
//! Hashing costs tens of milliseconds of CPU: callers run it on the blocking
//! pool ([`hash_blocking`], [`verify_blocking`]), never on the async workers.

use std::sync::OnceLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::SaltString;
use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};

/// Memory cost in KiB (OWASP: 19 MiB).
pub const MEMORY_KIB: u32 = 19_456;
/// Iterations (OWASP: 2 with 19 MiB).
pub const ITERATIONS: u32 = 2;
/// Degree of parallelism (OWASP: 1).
pub const PARALLELISM: u32 = 1;
/// Shortest password accepted, in characters (NIST SP 800-63B asks for at
/// least 8; 12 leaves room for passphrases without composition rules).
pub const MIN_LENGTH: usize = 12;
/// Longest password accepted, in characters (bounds the hashing work).
pub const MAX_LENGTH: usize = 256;

fn hasher() -> Argon2<'static> {
    // Constant, valid parameters: `Params::new` cannot fail on them.
    let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, Some(32))
        .unwrap_or_else(|_| Params::default());
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// The PHC string of `password` under a fresh random salt.
pub fn hash(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(hasher()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

/// Whether `password` matches the PHC string `stored` (constant-time
/// comparison inside the crate). An unreadable stored hash never matches.
pub fn verify(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|parsed| {
            hasher()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Spends the same work as verifying a real password, for unknown emails
/// and accounts without a password, so the answer time does not tell them
/// apart from a wrong password.
pub fn verify_dummy(password: &str) {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let stored = DUMMY.get_or_init(|| hash("not a password anybody has").unwrap_or_default());
    let _ = verify(password, stored);
}

/// [`hash`] on the blocking pool.
pub async fn hash_blocking(password: String) -> Result<String, String> {
    tokio::task::spawn_blocking(move || hash(&password).map_err(|e| e.to_string()))
        .await
        .map_err(|e| e.to_string())?
}

/// [`verify`] (or [`verify_dummy`] without a stored hash) on the blocking pool.
pub async fn verify_blocking(password: String, stored: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || match stored {
        Some(stored) => verify(&password, &stored),
        None => {
            verify_dummy(&password);
            false
        }
    })
    .await
    .unwrap_or(false)
}

/// Why a new password is refused (the API names the field).
pub fn check_strength(password: &str, email: &str) -> Result<(), String> {
    let length = password.chars().count();
    if length < MIN_LENGTH {
        return Err(format!("must be at least {MIN_LENGTH} characters"));
    }
    if length > MAX_LENGTH {
        return Err(format!("must be at most {MAX_LENGTH} characters"));
    }
    let mut distinct: Vec<char> = password.chars().collect();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < 4 {
        return Err("must not repeat so few characters".to_owned());
    }
    let lowered = password.to_lowercase();
    let local = email.split('@').next().unwrap_or_default().to_lowercase();
    if lowered == email.to_lowercase() || (local.len() >= 4 && lowered.contains(&local)) {
        return Err("must not contain the email address".to_owned());
    }
    if ["password", "123456789", "qwertyuiop", "alertledger"]
        .iter()
        .any(|common| lowered.contains(common))
    {
        return Err("is too easy to guess".to_owned());
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_is_argon2id_with_the_documented_parameters_and_verifies() {
        let stored = hash("correct horse battery staple").unwrap();
        let parsed = PasswordHash::new(&stored).unwrap();
        assert_eq!(parsed.algorithm.as_str(), "argon2id");
        assert_eq!(parsed.version, Some(0x13));
        let params = Params::try_from(&parsed).unwrap();
        assert_eq!(
            (params.m_cost(), params.t_cost(), params.p_cost()),
            (19_456, 2, 1)
        );
        assert!(verify("correct horse battery staple", &stored));
        assert!(!verify("correct horse battery stapler", &stored));
        assert!(!verify("x", "not a phc string"));
    }

    #[test]
    fn weak_passwords_are_refused_with_a_reason() {
        assert!(check_strength("short", "a@b.c").is_err());
        assert!(check_strength("aaaaaaaaaaaaaaa", "a@b.c").is_err());
        assert!(check_strength("ada.lovelace-2026!", "ada.lovelace@example.com").is_err());
        assert!(check_strength("mypassword-is-long", "x@y.z").is_err());
        assert!(check_strength("violet kettle orbit 42", "ada@example.com").is_ok());
    }
}
