-- The sealed log (docs/audit-bundle.md): every event, in log order, is a leaf
-- of an RFC 6962 Merkle tree. The sealer appends here asynchronously (appends
-- to `events` never wait for it) in the same transaction as its checkpoint.
--
--   audit_leaves  leaf `leaf_index` is the event at `position`; its leaf hash
--                 is SHA-256(0x00 || 0x01 || position || tenant || body_digest),
--                 so the tenant and body digest are all that is stored.
--   audit_nodes   roots of the perfect subtrees of 256 leaves and more (level
--                 >= 8), so a proof reads a few rows instead of the whole tree.
CREATE TABLE audit_leaves
(
    leaf_index  bigint PRIMARY KEY CHECK (leaf_index >= 0),
    position    bigint NOT NULL,
    tenant_id   uuid   NOT NULL,
    body_digest bytea  NOT NULL CHECK (length(body_digest) = 32)
);

-- Proofs are asked for by event position.
CREATE UNIQUE INDEX audit_leaves_position_key ON audit_leaves (position);

CREATE TABLE audit_nodes
(
    level      integer NOT NULL CHECK (level >= 8 AND level < 64),
    node_index bigint  NOT NULL CHECK (node_index >= 0),
    hash       bytea   NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (level, node_index)
);

COMMENT ON TABLE audit_leaves IS
    'Sealed log: leaf i of the audit Merkle tree is the i-th event in log order. Append-only.';
COMMENT ON TABLE audit_nodes IS
    'Roots of perfect subtrees (>= 256 leaves) of the audit Merkle tree, for proofs. Append-only.';

-- Like the events table, the seal is never rewritten; only a superuser who
-- disables these triggers can, and `audit verify` then names what changed.
CREATE FUNCTION audit_reject_rewrite() RETURNS trigger
    LANGUAGE plpgsql AS
$$
BEGIN
    RAISE EXCEPTION 'the % table is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$;

CREATE TRIGGER audit_leaves_no_update_or_delete
    BEFORE UPDATE OR DELETE ON audit_leaves
    FOR EACH STATEMENT EXECUTE FUNCTION audit_reject_rewrite();
CREATE TRIGGER audit_leaves_no_truncate
    BEFORE TRUNCATE ON audit_leaves
    FOR EACH STATEMENT EXECUTE FUNCTION audit_reject_rewrite();
CREATE TRIGGER audit_nodes_no_update_or_delete
    BEFORE UPDATE OR DELETE ON audit_nodes
    FOR EACH STATEMENT EXECUTE FUNCTION audit_reject_rewrite();
CREATE TRIGGER audit_nodes_no_truncate
    BEFORE TRUNCATE ON audit_nodes
    FOR EACH STATEMENT EXECUTE FUNCTION audit_reject_rewrite();
