-- Secrets of notification channels (issue 18), encrypted at rest, like
-- webhook_secrets (0002): the NotificationSetup aggregate records a channel's
-- type, name and non-secret settings; its webhook URL, SMTP password, routing
-- key or signing key is sealed here with XChaCha20-Poly1305 under the master
-- key (ALERTLEDGER_MASTER_KEY), a random 24-byte nonce per row, and the tenant
-- and channel ids bound as associated data.
--
-- A row is written before the event that adds its channel and deleted after
-- the event that removes it (crypto-shredding); the log alone says which
-- channels exist. The service role's grants come from
-- alertledger_grant_service_privileges(), re-applied after migrations.
CREATE TABLE notification_channel_secrets
(
    channel_id uuid        PRIMARY KEY,
    tenant_id  uuid        NOT NULL,
    nonce      bytea       NOT NULL CHECK (octet_length(nonce) = 24),
    ciphertext bytea       NOT NULL CHECK (octet_length(ciphertext) BETWEEN 16 AND 16384),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX notification_channel_secrets_tenant_idx ON notification_channel_secrets (tenant_id);

COMMENT ON TABLE notification_channel_secrets IS
    'Notification channel secrets sealed with XChaCha20-Poly1305 under the master key; ciphertext only. Which channels exist is decided by the event log.';
