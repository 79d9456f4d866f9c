-- Working state of the runbook dispatcher (workers/src/remediation), a log
-- consumer that records decisions: it commits with the dispatcher's
-- checkpoint, so it always matches the log position the dispatcher reached.
-- Not a read model: not rebuildable (replaying would decide again).

-- The runbooks as the log stood at the dispatcher's position, to find an
-- incident's runbook by signature in log order (not as a lagging read model
-- or a later edit would say).
CREATE TABLE dispatcher_runbooks
(
    runbook_id       uuid PRIMARY KEY,
    tenant_id        uuid    NOT NULL,
    signature        text    NOT NULL,
    risk             text    NOT NULL,
    auto_execute     boolean NOT NULL,
    retired          boolean NOT NULL,
    -- Position of RunbookDefined: of several runbooks for one signature the
    -- first defined wins.
    defined_position bigint  NOT NULL
);

CREATE INDEX dispatcher_runbooks_signature_idx ON dispatcher_runbooks (tenant_id, signature, defined_position);

-- Executions the SSM executor still has to drive: added on
-- ExecutionRequested, removed on its final outcome. The executor works from
-- here, so an execution is never forgotten across restarts.
CREATE TABLE executor_queue
(
    execution_id     uuid PRIMARY KEY,
    tenant_id        uuid   NOT NULL,
    queued_position  bigint NOT NULL
);
