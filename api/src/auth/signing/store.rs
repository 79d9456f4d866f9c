//! The `webhook_secrets` table: each secret's key material, sealed by the
//! [`WebhookSecretCipher`]. Which secrets are active is the event log's call;
//! this store only turns an id back into key material.

use std::collections::HashMap;

use alertledger_domain::values::{TenantId, WebhookSecretId};
use sqlx::PgPool;
use uuid::Uuid;

use super::secret::SecretBytes;
use super::vault::{Sealed, VaultError, WebhookSecretCipher, NONCE_LEN};
use crate::error::ApiError;

/// Sealed webhook secrets in PostgreSQL.
#[derive(Debug, Clone)]
pub struct WebhookSecretStore {
    pool: PgPool,
    cipher: WebhookSecretCipher,
}

impl WebhookSecretStore {
    pub fn new(pool: PgPool, cipher: WebhookSecretCipher) -> Self {
        Self { pool, cipher }
    }

    /// Seals and inserts a new secret's key material. Call this before
    /// recording `AddWebhookSecret`: a row whose event never lands is inert,
    /// an event without its row is not.
    pub async fn store(
        &self,
        tenant: TenantId,
        secret_id: WebhookSecretId,
        key: &SecretBytes,
    ) -> Result<(), SecretStoreError> {
        let sealed = self.cipher.encrypt(tenant, secret_id, key)?;
        sqlx::query(
            "INSERT INTO webhook_secrets (secret_id, tenant_id, nonce, ciphertext) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(secret_id.as_uuid())
        .bind(tenant.as_uuid())
        .bind(sealed.nonce.as_slice())
        .bind(&sealed.ciphertext)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The key material of `secret_ids` (the tenant's active secrets, as the
    /// log says), in the order asked. Every id must have a row of this tenant
    /// that decrypts; otherwise the error names the secret.
    pub async fn load(
        &self,
        tenant: TenantId,
        secret_ids: &[WebhookSecretId],
    ) -> Result<Vec<(WebhookSecretId, SecretBytes)>, SecretStoreError> {
        if secret_ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<Uuid> = secret_ids.iter().map(|id| *id.as_uuid()).collect();
        let rows: Vec<(Uuid, Vec<u8>, Vec<u8>)> = sqlx::query_as(
            "SELECT secret_id, nonce, ciphertext FROM webhook_secrets \
             WHERE tenant_id = $1 AND secret_id = ANY($2)",
        )
        .bind(tenant.as_uuid())
        .bind(&ids)
        .fetch_all(&self.pool)
        .await?;
        let rows: HashMap<Uuid, (Vec<u8>, Vec<u8>)> = rows
            .into_iter()
            .map(|(id, nonce, ciphertext)| (id, (nonce, ciphertext)))
            .collect();
        secret_ids
            .iter()
            .map(|&secret_id| {
                let (nonce, ciphertext) = rows
                    .get(secret_id.as_uuid())
                    .ok_or(SecretStoreError::NotStored { secret_id })?;
                let sealed = Sealed {
                    nonce: <[u8; NONCE_LEN]>::try_from(nonce.as_slice())
                        .map_err(|_| VaultError::Unseal { secret_id })?,
                    ciphertext: ciphertext.clone(),
                };
                Ok((secret_id, self.cipher.decrypt(tenant, secret_id, &sealed)?))
            })
            .collect()
    }
}

/// Why key material could not be stored or loaded.
#[derive(Debug, thiserror::Error)]
pub enum SecretStoreError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error("webhook secret {secret_id} has no stored key material for this tenant")]
    NotStored { secret_id: WebhookSecretId },
}

impl From<SecretStoreError> for ApiError {
    /// Never the caller's fault: 503 when the database is down, else a logged 500.
    fn from(error: SecretStoreError) -> Self {
        match error {
            SecretStoreError::Database(error) => ApiError::database(&error),
            other => ApiError::internal(&other),
        }
    }
}
