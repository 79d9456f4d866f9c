-- Where each projector (and each log-consuming worker) stands in the global log.
--
-- A projector applies a batch of events and moves its row here in the same
-- transaction, so its effect is exactly-once; it locks its row FOR UPDATE at
-- the start of every batch, so two instances (or a rebuild swapping tables in)
-- never apply the same events twice.
CREATE TABLE projector_checkpoints
(
    name            text PRIMARY KEY,
    -- The log cursor: after the event at `position`, written by `transaction_id`.
    transaction_id  xid8        NOT NULL DEFAULT '0',
    position        bigint      NOT NULL DEFAULT 0,
    events_applied  bigint      NOT NULL DEFAULT 0,
    -- Position of the last event applied (the cursor may stand past it, between
    -- transactions, when what followed was not for this projector).
    last_position   bigint      NOT NULL DEFAULT 0,
    -- recorded_at of the last event applied (lag = head's recorded_at - this).
    last_event_at   timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    -- Set when the projector stopped on an event it cannot apply.
    failed_position bigint,
    last_error      text
);

COMMENT ON TABLE projector_checkpoints IS
    'Log cursor of every projector and worker; moved in the same transaction as the batch it applied.';
