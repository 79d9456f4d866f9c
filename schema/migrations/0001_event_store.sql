-- The event store: the table postgres-es reads and writes, extended with the
-- columns that make one global, commit-safe log out of it.
--
-- postgres-es names its columns on insert, so every extra column here has a
-- default and stays invisible to it.
--
--   position        unique id of an event; the only number clients ever see.
--   transaction_id  the writing transaction. Log order is (transaction_id,
--                   position), read only below pg_snapshot_xmin(pg_current_snapshot()),
--                   so a reader never skips an event whose transaction commits late.
--   recorded_at     when the writing transaction started (now()).
--   tenant_id       derived from the payload: every event variant carries
--                   `tenant_id`, and an event without one is refused here.
CREATE TABLE events
(
    aggregate_type text   NOT NULL,
    aggregate_id   text   NOT NULL,
    sequence       bigint NOT NULL CHECK (sequence >= 0),
    event_type     text   NOT NULL,
    event_version  text   NOT NULL,
    payload        jsonb  NOT NULL,
    metadata       jsonb  NOT NULL,
    position       bigserial   NOT NULL,
    transaction_id xid8        NOT NULL DEFAULT pg_current_xact_id(),
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    tenant_id      uuid        NOT NULL
        GENERATED ALWAYS AS ((jsonb_path_query_first(payload, '$.*.tenant_id') #>> '{}')::uuid) STORED,
    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
);

-- Resuming a client's cursor: position -> (transaction_id, position).
CREATE UNIQUE INDEX events_position_key ON events (position);
-- The global log reader walks this index in order.
CREATE INDEX events_log_order_idx ON events (transaction_id, position);
-- Tenant-scoped log reads (every non-MSP reader is scoped to its tenants).
CREATE INDEX events_tenant_log_order_idx ON events (tenant_id, transaction_id, position);

COMMENT ON TABLE events IS
    'Append-only event store. Log order is (transaction_id, position) below the snapshot xmin horizon.';

-- The log is append-only: history is never rewritten, only added to.
-- Statement-level triggers fire even when no row matches, so any attempt fails loudly.
CREATE FUNCTION events_reject_rewrite() RETURNS trigger
    LANGUAGE plpgsql AS
$$
BEGIN
    RAISE EXCEPTION 'the events table is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'restrict_violation',
              HINT = 'Record a new event that corrects the old one instead.';
END;
$$;

CREATE TRIGGER events_no_update_or_delete
    BEFORE UPDATE OR DELETE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_reject_rewrite();

CREATE TRIGGER events_no_truncate
    BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_reject_rewrite();
