//! Encryption of webhook secrets at rest: XChaCha20-Poly1305 (RustCrypto's
//! `chacha20poly1305`) under the master key from `ALERTLEDGER_MASTER_KEY`.
//!
//! Each secret is sealed with a fresh random 192-bit nonce (XChaCha's nonce is
//! large enough for random nonces to never repeat in practice), and with the
//! tenant id and the secret id as associated data: a ciphertext copied to
//! another row or another tenant does not decrypt.

use std::fmt;

use alertledger_domain::values::{TenantId, WebhookSecretId};
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use rand::RngCore;
use zeroize::{Zeroize, Zeroizing};

use super::secret::{SecretBytes, WEBHOOK_SECRET_LEN};

/// Length of the master key in bytes.
pub const MASTER_KEY_LEN: usize = 32;

/// Length of an XChaCha20-Poly1305 nonce in bytes.
pub const NONCE_LEN: usize = 24;

/// Binds a ciphertext to its purpose and format version, beside the ids.
const AAD_LABEL: &[u8] = b"alertledger webhook secret v1\n";

/// Standard base64 alphabet; padding optional, so `openssl rand -base64 32` and
/// unpadded forms both work.
const MASTER_KEY_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The key that encrypts every webhook secret at rest.
///
/// `Debug` prints no byte of it, and the bytes are zeroed on drop.
#[derive(Clone)]
pub struct MasterKey([u8; MASTER_KEY_LEN]);

impl MasterKey {
    /// Reads `ALERTLEDGER_MASTER_KEY`'s form: standard base64 of 32 bytes
    /// (e.g. from `openssl rand -base64 32`).
    pub fn from_base64(encoded: &str) -> Result<Self, MasterKeyError> {
        let decoded = Zeroizing::new(
            MASTER_KEY_BASE64
                .decode(encoded.trim())
                .map_err(|_| MasterKeyError::NotBase64)?,
        );
        <[u8; MASTER_KEY_LEN]>::try_from(decoded.as_slice())
            .map(Self)
            .map_err(|_| MasterKeyError::WrongLength { len: decoded.len() })
    }

    /// A random key, for development runs without a configured one. Secrets
    /// sealed under it are unreadable once the process ends.
    pub fn generate() -> Self {
        let mut bytes = [0_u8; MASTER_KEY_LEN];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let key = Self(bytes);
        bytes.zeroize();
        key
    }

    /// The cipher of notification channel secrets under this key (the same
    /// construction as webhook secrets', under its own associated-data label).
    pub fn channel_secret_cipher(&self) -> alertledger_notify::ChannelSecretCipher {
        alertledger_notify::ChannelSecretCipher::new(&self.0)
    }

    /// The base64 form `from_base64` reads (to print a generated development key).
    pub fn to_base64(&self) -> String {
        MASTER_KEY_BASE64.encode(self.0)
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

impl Drop for MasterKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// Why `ALERTLEDGER_MASTER_KEY` is unusable. Never quotes the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MasterKeyError {
    #[error("the master key must be base64 (e.g. from `openssl rand -base64 32`)")]
    NotBase64,
    #[error("the master key must decode to {MASTER_KEY_LEN} bytes, not {len}")]
    WrongLength { len: usize },
}

/// A sealed secret as stored: the nonce and the ciphertext (with its tag).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub nonce: [u8; NONCE_LEN],
    pub ciphertext: Vec<u8>,
}

/// Seals and opens webhook secrets under one master key.
#[derive(Clone)]
pub struct WebhookSecretCipher {
    aead: XChaCha20Poly1305,
}

impl WebhookSecretCipher {
    pub fn new(master: &MasterKey) -> Self {
        Self {
            aead: XChaCha20Poly1305::new(Key::from_slice(&master.0)),
        }
    }

    /// Encrypts `key` for secret `secret_id` of `tenant`, with a fresh nonce.
    pub fn encrypt(
        &self,
        tenant: TenantId,
        secret_id: WebhookSecretId,
        key: &SecretBytes,
    ) -> Result<Sealed, VaultError> {
        let mut nonce = [0_u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let aad = associated_data(tenant, secret_id);
        let ciphertext = self
            .aead
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: key.expose(),
                    aad: &aad,
                },
            )
            .map_err(|_| VaultError::Seal { secret_id })?;
        Ok(Sealed { nonce, ciphertext })
    }

    /// Decrypts what [`encrypt`](Self::encrypt) sealed for the same tenant and
    /// secret id. Fails on another master key, another tenant or secret id, or
    /// any changed byte.
    pub fn decrypt(
        &self,
        tenant: TenantId,
        secret_id: WebhookSecretId,
        sealed: &Sealed,
    ) -> Result<SecretBytes, VaultError> {
        let aad = associated_data(tenant, secret_id);
        let plaintext = Zeroizing::new(
            self.aead
                .decrypt(
                    XNonce::from_slice(&sealed.nonce),
                    Payload {
                        msg: &sealed.ciphertext,
                        aad: &aad,
                    },
                )
                .map_err(|_| VaultError::Unseal { secret_id })?,
        );
        <[u8; WEBHOOK_SECRET_LEN]>::try_from(plaintext.as_slice())
            .map(SecretBytes::from_bytes)
            .map_err(|_| VaultError::Unseal { secret_id })
    }
}

impl fmt::Debug for WebhookSecretCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecretCipher(XChaCha20-Poly1305, <key redacted>)")
    }
}

/// Why a secret could not be sealed or opened. Names the secret, never its bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VaultError {
    #[error("cannot encrypt webhook secret {secret_id}")]
    Seal { secret_id: WebhookSecretId },
    #[error(
        "cannot decrypt webhook secret {secret_id}: the master key differs from the one \
         it was stored under, or the stored row was altered or moved to another tenant or id"
    )]
    Unseal { secret_id: WebhookSecretId },
}

fn associated_data(tenant: TenantId, secret_id: WebhookSecretId) -> Vec<u8> {
    let mut aad = Vec::with_capacity(AAD_LABEL.len() + 32);
    aad.extend_from_slice(AAD_LABEL);
    aad.extend_from_slice(tenant.as_bytes());
    aad.extend_from_slice(secret_id.as_bytes());
    aad
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn key() -> SecretBytes {
        SecretBytes::from_bytes(std::array::from_fn(|i| i as u8))
    }

    #[test]
    fn a_sealed_secret_opens_to_the_same_bytes() {
        let cipher = WebhookSecretCipher::new(&MasterKey::generate());
        let (tenant, secret_id) = (TenantId::new_v7(), WebhookSecretId::new_v7());
        let sealed = cipher.encrypt(tenant, secret_id, &key()).unwrap();
        assert_eq!(sealed.ciphertext.len(), WEBHOOK_SECRET_LEN + 16);
        let opened = cipher.decrypt(tenant, secret_id, &sealed).unwrap();
        assert_eq!(opened.expose(), key().expose());
    }

    #[test]
    fn sealing_twice_uses_fresh_nonces() {
        let cipher = WebhookSecretCipher::new(&MasterKey::generate());
        let (tenant, secret_id) = (TenantId::new_v7(), WebhookSecretId::new_v7());
        let a = cipher.encrypt(tenant, secret_id, &key()).unwrap();
        let b = cipher.encrypt(tenant, secret_id, &key()).unwrap();
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.ciphertext, b.ciphertext);
    }

    #[test]
    fn another_master_key_cannot_open_a_sealed_secret() {
        let (tenant, secret_id) = (TenantId::new_v7(), WebhookSecretId::new_v7());
        let sealed = WebhookSecretCipher::new(&MasterKey::generate())
            .encrypt(tenant, secret_id, &key())
            .unwrap();
        let error = WebhookSecretCipher::new(&MasterKey::generate())
            .decrypt(tenant, secret_id, &sealed)
            .unwrap_err();
        assert_eq!(error, VaultError::Unseal { secret_id });
        assert!(error.to_string().contains(&secret_id.to_string()));
    }

    #[test]
    fn a_ciphertext_moved_to_another_tenant_or_secret_id_does_not_open() {
        let cipher = WebhookSecretCipher::new(&MasterKey::generate());
        let (tenant, secret_id) = (TenantId::new_v7(), WebhookSecretId::new_v7());
        let sealed = cipher.encrypt(tenant, secret_id, &key()).unwrap();

        let other_tenant = TenantId::new_v7();
        assert!(cipher.decrypt(other_tenant, secret_id, &sealed).is_err());
        let other_secret = WebhookSecretId::new_v7();
        assert_eq!(
            cipher.decrypt(tenant, other_secret, &sealed).unwrap_err(),
            VaultError::Unseal {
                secret_id: other_secret
            }
        );
    }

    #[test]
    fn a_changed_byte_of_the_ciphertext_or_nonce_does_not_open() {
        let cipher = WebhookSecretCipher::new(&MasterKey::generate());
        let (tenant, secret_id) = (TenantId::new_v7(), WebhookSecretId::new_v7());
        let sealed = cipher.encrypt(tenant, secret_id, &key()).unwrap();
        let mut flipped_ciphertext = sealed.clone();
        flipped_ciphertext.ciphertext[0] ^= 1;
        assert!(cipher
            .decrypt(tenant, secret_id, &flipped_ciphertext)
            .is_err());
        let mut flipped_nonce = sealed;
        flipped_nonce.nonce[0] ^= 1;
        assert!(cipher.decrypt(tenant, secret_id, &flipped_nonce).is_err());
    }

    #[test]
    fn the_master_key_reads_base64_of_32_bytes_with_or_without_padding() {
        let key = MasterKey::generate();
        let encoded = key.to_base64();
        assert_eq!(encoded.len(), 44);
        let padded = MasterKey::from_base64(&encoded).unwrap();
        let unpadded = MasterKey::from_base64(encoded.trim_end_matches('=')).unwrap();
        assert_eq!(padded.0, key.0);
        assert_eq!(unpadded.0, key.0);
        assert_eq!(
            MasterKey::from_base64("not base64!").unwrap_err(),
            MasterKeyError::NotBase64
        );
        assert_eq!(
            MasterKey::from_base64("AAECAwQF").unwrap_err(),
            MasterKeyError::WrongLength { len: 6 }
        );
    }

    #[test]
    fn debug_output_of_the_master_key_and_cipher_reveals_no_byte() {
        let key = MasterKey::from_base64("q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=").unwrap();
        assert_eq!(key.0, [0xAB; MASTER_KEY_LEN]);
        let debug = format!("{key:?} {:?}", WebhookSecretCipher::new(&key));
        assert!(!debug.contains("q6ur"), "{debug}");
        assert!(!debug.contains("171"), "{debug}");
        assert!(!debug.to_lowercase().contains("abab"), "{debug}");
        assert_eq!(
            debug,
            "MasterKey(<redacted>) WebhookSecretCipher(XChaCha20-Poly1305, <key redacted>)"
        );
    }
}
