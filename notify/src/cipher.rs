//! Channel secrets at rest: the construction of the webhook-secret vault
//! (api `auth::signing::vault`), XChaCha20-Poly1305 under the master key
//! (`ALERTLEDGER_MASTER_KEY`) with a fresh random 192-bit nonce per seal and
//! the tenant and channel ids as associated data (a ciphertext moved to
//! another row or tenant does not open), under its own label so a sealed
//! channel secret can never pass for a webhook secret or the reverse.

use std::fmt;

use alertledger_domain::values::{NotificationChannelId, TenantId};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use rand::RngCore;
use zeroize::Zeroizing;

use crate::secret::ChannelSecret;

/// Length of an XChaCha20-Poly1305 nonce in bytes.
pub const NONCE_LEN: usize = 24;

/// Binds a ciphertext to its purpose and format version, beside the ids.
const AAD_LABEL: &[u8] = b"alertledger notification channel secret v1\n";

/// A sealed channel secret as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedSecret {
    pub nonce: [u8; NONCE_LEN],
    pub ciphertext: Vec<u8>,
}

/// Seals and opens channel secrets under one master key.
#[derive(Clone)]
pub struct ChannelSecretCipher {
    aead: XChaCha20Poly1305,
}

/// Why a secret could not be sealed or opened; never quotes it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CipherError {
    #[error("cannot encrypt the secret of channel {0}")]
    Seal(NotificationChannelId),
    #[error(
        "cannot decrypt the secret of channel {0}: another master key, or the row was altered or moved"
    )]
    Unseal(NotificationChannelId),
}

impl ChannelSecretCipher {
    /// A cipher under the master key's 32 bytes (the API's `MasterKey`
    /// hands them over through `MasterKey::channel_secret_cipher`).
    pub fn new(master_key: &[u8; 32]) -> Self {
        Self {
            aead: XChaCha20Poly1305::new(Key::from_slice(master_key)),
        }
    }

    pub fn seal(
        &self,
        tenant: TenantId,
        channel: NotificationChannelId,
        secret: &ChannelSecret,
    ) -> Result<SealedSecret, CipherError> {
        let plaintext =
            Zeroizing::new(serde_json::to_vec(secret).map_err(|_| CipherError::Seal(channel))?);
        let mut nonce = [0_u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let aad = associated_data(tenant, channel);
        let ciphertext = self
            .aead
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: &plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| CipherError::Seal(channel))?;
        Ok(SealedSecret { nonce, ciphertext })
    }

    pub fn open(
        &self,
        tenant: TenantId,
        channel: NotificationChannelId,
        sealed: &SealedSecret,
    ) -> Result<ChannelSecret, CipherError> {
        let aad = associated_data(tenant, channel);
        let plaintext = Zeroizing::new(
            self.aead
                .decrypt(
                    XNonce::from_slice(&sealed.nonce),
                    Payload {
                        msg: &sealed.ciphertext,
                        aad: &aad,
                    },
                )
                .map_err(|_| CipherError::Unseal(channel))?,
        );
        serde_json::from_slice(&plaintext).map_err(|_| CipherError::Unseal(channel))
    }
}

impl fmt::Debug for ChannelSecretCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ChannelSecretCipher(XChaCha20-Poly1305, <key redacted>)")
    }
}

fn associated_data(tenant: TenantId, channel: NotificationChannelId) -> Vec<u8> {
    let mut aad = Vec::with_capacity(AAD_LABEL.len() + 32);
    aad.extend_from_slice(AAD_LABEL);
    aad.extend_from_slice(tenant.as_bytes());
    aad.extend_from_slice(channel.as_bytes());
    aad
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn secret() -> ChannelSecret {
        ChannelSecret::Slack {
            url: "https://hooks.slack.com/services/T0/B0/XYZ".to_owned(),
        }
    }

    #[test]
    fn a_sealed_secret_opens_only_for_its_own_tenant_channel_and_key() {
        let cipher = ChannelSecretCipher::new(&[7; 32]);
        let (tenant, channel) = (TenantId::new_v7(), NotificationChannelId::new_v7());
        let sealed = cipher.seal(tenant, channel, &secret()).unwrap();
        assert!(!String::from_utf8_lossy(&sealed.ciphertext).contains("hooks.slack"));
        assert_eq!(cipher.open(tenant, channel, &sealed).unwrap(), secret());
        assert!(cipher.open(TenantId::new_v7(), channel, &sealed).is_err());
        assert!(cipher
            .open(tenant, NotificationChannelId::new_v7(), &sealed)
            .is_err());
        assert!(ChannelSecretCipher::new(&[8; 32])
            .open(tenant, channel, &sealed)
            .is_err());
        assert_eq!(format!("{:?}", secret()), "ChannelSecret(<redacted>)");
    }
}
