//! A webhook signing secret: 32 random bytes, shown to the user once as
//! `whsec_<base64>`, never logged, wiped from memory when dropped.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::RngCore;
use zeroize::Zeroize;

/// Every secret a user sees starts with this (as Standard Webhooks secrets
/// do), so leaked secrets are easy to recognise and scan for.
pub const WEBHOOK_SECRET_PREFIX: &str = "whsec_";

/// Length of a secret's key material in bytes.
pub const WEBHOOK_SECRET_LEN: usize = 32;

/// A secret's key material: the HMAC-SHA256 key for both header styles.
///
/// `Debug` prints no byte of it, and the bytes are zeroed on drop.
#[derive(Clone)]
pub struct SecretBytes([u8; WEBHOOK_SECRET_LEN]);

impl SecretBytes {
    /// Wraps key material (read back from the vault, or made in a test).
    pub fn from_bytes(bytes: [u8; WEBHOOK_SECRET_LEN]) -> Self {
        Self(bytes)
    }

    /// The raw key, for the HMAC and the cipher; never for a log or a response.
    pub fn expose(&self) -> &[u8; WEBHOOK_SECRET_LEN] {
        &self.0
    }

    /// The form shown to the user: `whsec_` and the standard base64 of the bytes.
    pub fn to_display(&self) -> String {
        format!("{WEBHOOK_SECRET_PREFIX}{}", STANDARD.encode(self.0))
    }

    /// Reads the `whsec_…` form back (for the CLI and for tests).
    pub fn parse_display(display: &str) -> Result<Self, SecretFormatError> {
        let encoded = display
            .trim()
            .strip_prefix(WEBHOOK_SECRET_PREFIX)
            .ok_or(SecretFormatError::MissingPrefix)?;
        let mut decoded = STANDARD
            .decode(encoded)
            .map_err(|_| SecretFormatError::NotBase64)?;
        let bytes = <[u8; WEBHOOK_SECRET_LEN]>::try_from(decoded.as_slice())
            .map_err(|_| SecretFormatError::WrongLength { len: decoded.len() });
        decoded.zeroize();
        bytes.map(Self)
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretBytes(<redacted>)")
    }
}

impl Drop for SecretBytes {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// Why a `whsec_…` string is not one of our secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretFormatError {
    #[error("a webhook secret starts with {WEBHOOK_SECRET_PREFIX}")]
    MissingPrefix,
    #[error("a webhook secret is {WEBHOOK_SECRET_PREFIX} followed by standard base64")]
    NotBase64,
    #[error("a webhook secret holds {WEBHOOK_SECRET_LEN} bytes, this one {len}")]
    WrongLength { len: usize },
}

/// A new secret from the operating system's generator: what to show the user
/// once (`whsec_…`), and the key material to seal and store.
pub fn generate_webhook_secret() -> (String, SecretBytes) {
    let mut bytes = [0_u8; WEBHOOK_SECRET_LEN];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let key = SecretBytes(bytes);
    bytes.zeroize();
    (key.to_display(), key)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_are_distinct_prefixed_and_read_back_to_the_same_bytes() {
        let (display_a, key_a) = generate_webhook_secret();
        let (display_b, _) = generate_webhook_secret();
        assert_ne!(display_a, display_b);
        assert!(display_a.starts_with(WEBHOOK_SECRET_PREFIX));
        assert_eq!(display_a.len(), WEBHOOK_SECRET_PREFIX.len() + 44);
        let parsed = SecretBytes::parse_display(&display_a).unwrap();
        assert_eq!(parsed.expose(), key_a.expose());
    }

    #[test]
    fn the_display_form_is_whsec_and_standard_base64_of_the_bytes() {
        let key = SecretBytes::from_bytes(std::array::from_fn(|i| i as u8));
        assert_eq!(
            key.to_display(),
            "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
        );
    }

    #[test]
    fn strings_that_are_not_our_secrets_are_refused_with_the_reason() {
        assert_eq!(
            SecretBytes::parse_display("AAECAwQF").unwrap_err(),
            SecretFormatError::MissingPrefix
        );
        assert_eq!(
            SecretBytes::parse_display("whsec_not base64!").unwrap_err(),
            SecretFormatError::NotBase64
        );
        // The Standard Webhooks spec's example secret holds 24 bytes.
        assert_eq!(
            SecretBytes::parse_display("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap_err(),
            SecretFormatError::WrongLength { len: 24 }
        );
    }

    #[test]
    fn debug_output_of_secret_bytes_reveals_no_byte() {
        let key = SecretBytes::from_bytes([0xAB; WEBHOOK_SECRET_LEN]);
        let debug = format!("{key:?}");
        assert_eq!(debug, "SecretBytes(<redacted>)");
        assert!(!debug.to_lowercase().contains("ab"));
        assert!(!debug.contains("171"));
    }
}
