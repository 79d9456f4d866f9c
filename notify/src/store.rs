//! The `notification_channel_secrets` table: each channel's sealed secret.
//! Which channels exist is the log's call (`NotificationSetup` events); this
//! store only turns a channel id back into its secret. The row is written
//! before the event that adds the channel (a row without its event is inert,
//! an event without its row would be an unusable channel) and deleted after
//! the event that removes it (crypto-shredding).

use alertledger_domain::values::{NotificationChannelId, TenantId};
use sqlx::PgPool;

use crate::cipher::{ChannelSecretCipher, CipherError, SealedSecret, NONCE_LEN};
use crate::secret::ChannelSecret;

/// Sealed channel secrets in PostgreSQL.
#[derive(Debug, Clone)]
pub struct ChannelSecretStore {
    pool: PgPool,
    cipher: ChannelSecretCipher,
}

/// Why a secret could not be stored or read.
#[derive(Debug, thiserror::Error)]
pub enum SecretStoreError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Cipher(#[from] CipherError),
    #[error("channel {0} has no stored secret")]
    NotStored(NotificationChannelId),
}

impl ChannelSecretStore {
    pub fn new(pool: PgPool, cipher: ChannelSecretCipher) -> Self {
        Self { pool, cipher }
    }

    /// Seals and inserts a new channel's secret.
    pub async fn store(
        &self,
        tenant: TenantId,
        channel: NotificationChannelId,
        secret: &ChannelSecret,
    ) -> Result<(), SecretStoreError> {
        let sealed = self.cipher.seal(tenant, channel, secret)?;
        sqlx::query(
            "INSERT INTO notification_channel_secrets (channel_id, tenant_id, nonce, ciphertext) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(channel.as_uuid())
        .bind(tenant.as_uuid())
        .bind(sealed.nonce.as_slice())
        .bind(&sealed.ciphertext)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Seals `secret` in place of a channel's current one (`PUT` of a
    /// channel); `NotStored` if the channel has none.
    pub async fn replace(
        &self,
        tenant: TenantId,
        channel: NotificationChannelId,
        secret: &ChannelSecret,
    ) -> Result<(), SecretStoreError> {
        let sealed = self.cipher.seal(tenant, channel, secret)?;
        let updated = sqlx::query(
            "UPDATE notification_channel_secrets SET nonce = $3, ciphertext = $4 \
             WHERE tenant_id = $1 AND channel_id = $2",
        )
        .bind(tenant.as_uuid())
        .bind(channel.as_uuid())
        .bind(sealed.nonce.as_slice())
        .bind(&sealed.ciphertext)
        .execute(&self.pool)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(SecretStoreError::NotStored(channel));
        }
        Ok(())
    }

    /// The secret of one channel of `tenant`.
    pub async fn load(
        &self,
        tenant: TenantId,
        channel: NotificationChannelId,
    ) -> Result<ChannelSecret, SecretStoreError> {
        let row: Option<(Vec<u8>, Vec<u8>)> = sqlx::query_as(
            "SELECT nonce, ciphertext FROM notification_channel_secrets \
             WHERE tenant_id = $1 AND channel_id = $2",
        )
        .bind(tenant.as_uuid())
        .bind(channel.as_uuid())
        .fetch_optional(&self.pool)
        .await?;
        let (nonce, ciphertext) = row.ok_or(SecretStoreError::NotStored(channel))?;
        let nonce = <[u8; NONCE_LEN]>::try_from(nonce.as_slice())
            .map_err(|_| CipherError::Unseal(channel))?;
        Ok(self
            .cipher
            .open(tenant, channel, &SealedSecret { nonce, ciphertext })?)
    }

    /// Removes a removed channel's secret (crypto-shredding).
    pub async fn shred(
        &self,
        tenant: TenantId,
        channel: NotificationChannelId,
    ) -> Result<(), SecretStoreError> {
        sqlx::query(
            "DELETE FROM notification_channel_secrets WHERE tenant_id = $1 AND channel_id = $2",
        )
        .bind(tenant.as_uuid())
        .bind(channel.as_uuid())
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
