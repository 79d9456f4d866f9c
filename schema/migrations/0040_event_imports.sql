-- Imports of audit bundles (`alertledger events import DIR`,
-- docs/audit-bundle.md "Importing a bundle"): one row per import that wrote
-- events, in the same transaction as those events.
--
-- Every event of one import shares that transaction's id. Process managers
-- (the correlator, the runbook dispatcher) look the id up here and pass over
-- the decisions they would take on those events: the imported history
-- already records the decisions taken where it came from, and deciding again
-- would open a second incident or run a runbook twice. Projections apply
-- imported events like any others.
--
-- Append-only like the log it describes (the trigger's function name ends in
-- reject_rewrite, so the service role gets SELECT and INSERT only).
CREATE TABLE event_imports
(
    transaction_id  xid8        PRIMARY KEY DEFAULT pg_current_xact_id(),
    tenant_id       uuid        NOT NULL,
    imported_at     timestamptz NOT NULL DEFAULT now(),
    events_written  bigint      NOT NULL CHECK (events_written > 0),
    events_present  bigint      NOT NULL CHECK (events_present >= 0),
    -- Where the events came from: the bundle's checkpoint and its key, and
    -- the positions they had there.
    source_tree_size     bigint NOT NULL,
    source_root_hash     text   NOT NULL,
    source_key_id        text   NOT NULL,
    source_first_position bigint,
    source_last_position  bigint,
    -- The positions this installation gave them.
    first_position  bigint      NOT NULL,
    last_position   bigint      NOT NULL
);

CREATE TRIGGER event_imports_no_update_or_delete
    BEFORE UPDATE OR DELETE ON event_imports
    FOR EACH STATEMENT EXECUTE FUNCTION audit_reject_rewrite();
CREATE TRIGGER event_imports_no_truncate
    BEFORE TRUNCATE ON event_imports
    FOR EACH STATEMENT EXECUTE FUNCTION audit_reject_rewrite();

COMMENT ON TABLE event_imports IS
    'Audit bundles imported by `events import`: their transaction, source checkpoint and positions. Append-only.';

SELECT alertledger_grant_service_privileges();
