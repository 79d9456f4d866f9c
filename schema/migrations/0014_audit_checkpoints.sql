-- Signed checkpoints of the audit Merkle tree (at least every 10 s or 10,000
-- events). Each names the previous one by the SHA-256 of its signed body, so
-- they form a chain; the body is rebuilt from these columns (see the seal
-- crate's `Checkpoint::body`) and its Ed25519 signature checked against a
-- trusted key, never against `public_key`, which is kept only so exports can
-- ship the key that signed.
CREATE TABLE audit_checkpoints
(
    tree_size     bigint PRIMARY KEY CHECK (tree_size > 0),
    root_hash     bytea  NOT NULL CHECK (length(root_hash) = 32),
    last_position bigint NOT NULL,
    time_us       bigint NOT NULL,
    previous_hash bytea  NOT NULL CHECK (length(previous_hash) = 32),
    key_id        text   NOT NULL,
    signature     bytea  NOT NULL CHECK (length(signature) = 64),
    public_key    text   NOT NULL
);

COMMENT ON TABLE audit_checkpoints IS
    'Signed tree heads of the audit Merkle tree, chained by hash. Append-only.';

CREATE TRIGGER audit_checkpoints_no_update_or_delete
    BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION audit_reject_rewrite();
CREATE TRIGGER audit_checkpoints_no_truncate
    BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION audit_reject_rewrite();
