-- Key material of webhook signing secrets, encrypted at rest.
--
-- Why not in the event log: events are kept forever, exported, streamed to
-- dashboards and read by every projection, so a secret written there could
-- never be taken back. The Tenant aggregate records only a secret's id
-- (WebhookSecretAdded, WebhookSecretRevoked), and the log alone decides which
-- secrets are active; this table turns an active id back into key material.
--
-- Rows hold ciphertext only, never the plaintext: XChaCha20-Poly1305 under the
-- master key (ALERTLEDGER_MASTER_KEY), with a random 24-byte nonce per row and
-- the tenant id and secret id bound as associated data, so a ciphertext copied
-- to another row or tenant does not decrypt. 48 bytes = 32 bytes of key
-- material + the 16-byte tag.
--
-- Not append-only, unlike events. Revocation is an event, and the verifier
-- loads only the ids the log says are active, so a revoked secret's row is
-- never read again: rows are kept after revocation, and revoking writes
-- nothing here (one source of truth, one write). Deleting the row of a revoked
-- secret to crypto-shred its key material is nevertheless allowed, so no
-- trigger forbids DELETE.
CREATE TABLE webhook_secrets
(
    secret_id  uuid        PRIMARY KEY,
    tenant_id  uuid        NOT NULL,
    nonce      bytea       NOT NULL CHECK (octet_length(nonce) = 24),
    ciphertext bytea       NOT NULL CHECK (octet_length(ciphertext) = 48),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- A tenant's secrets, for listing and for shredding a tenant's key material.
CREATE INDEX webhook_secrets_tenant_idx ON webhook_secrets (tenant_id);

COMMENT ON TABLE webhook_secrets IS
    'Webhook signing secrets sealed with XChaCha20-Poly1305 under the master key; ciphertext only. Active or revoked is decided by the event log.';
