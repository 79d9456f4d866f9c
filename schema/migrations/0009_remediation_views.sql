-- Read models of runbooks, approvals and executions, kept by the
-- `remediation` projector from the global log
-- (projections/src/read_models/remediation.rs). Like every read model they
-- are disposable and rebuildable (`projections rebuild remediation`); no
-- foreign keys, every key comes from an event, enumerations as the API
-- spells them, `*_at` from the events' own `at`.

CREATE TABLE runbooks
(
    runbook_id    uuid PRIMARY KEY,
    tenant_id     uuid        NOT NULL,
    name          text        NOT NULL,
    -- Incidents with exactly this signature are remedied by the runbook.
    signature     text        NOT NULL,
    risk          text        NOT NULL CHECK (risk IN ('low', 'medium', 'high')),
    -- The SSM document, e.g. AWS-RunShellScript.
    document      text        NOT NULL,
    commands      jsonb       NOT NULL,
    -- Document parameters besides `commands` ({name: [values]}).
    parameters    jsonb       NOT NULL,
    auto_execute  boolean     NOT NULL,
    -- Retired runbooks stay for the record but are never run again.
    retired       boolean     NOT NULL,
    created_at    timestamptz NOT NULL,
    -- User id of who defined it.
    created_by    text        NOT NULL,
    updated_at    timestamptz NOT NULL,
    updated_by    text        NOT NULL,
    last_position bigint      NOT NULL
);

COMMENT ON TABLE runbooks IS
    'One row per runbook, folded from the Runbook aggregate''s events; rebuilt from the log by the remediation projector.';

CREATE INDEX runbooks_tenant_name_idx ON runbooks (tenant_id, name, runbook_id);

CREATE TABLE approvals
(
    approval_id    uuid PRIMARY KEY,
    tenant_id      uuid        NOT NULL,
    runbook_id     uuid        NOT NULL,
    incident_id    uuid        NOT NULL,
    risk           text        NOT NULL CHECK (risk IN ('low', 'medium', 'high')),
    status         text        NOT NULL CHECK (status IN ('pending', 'granted', 'rejected', 'expired')),
    -- User id and name of who asked (`runbook-dispatcher` when the dispatcher did).
    requested_by   text        NOT NULL,
    requester_name text        NOT NULL,
    requested_at   timestamptz NOT NULL,
    -- After this nobody can decide it; the expirer then records the expiry.
    expires_at     timestamptz NOT NULL,
    decided_by     text,
    decided_at     timestamptz,
    -- The approver's reason, if given.
    reason         text,
    last_position  bigint      NOT NULL
);

COMMENT ON TABLE approvals IS
    'One row per approval request, folded from the Approval aggregate''s events; rebuilt from the log by the remediation projector.';

CREATE INDEX approvals_tenant_status_idx ON approvals (tenant_id, status, requested_at DESC, approval_id DESC);
-- The expirer's scan for pending requests past their time.
CREATE INDEX approvals_pending_expiry_idx ON approvals (expires_at) WHERE status = 'pending';

CREATE TABLE executions
(
    execution_id   uuid PRIMARY KEY,
    tenant_id      uuid        NOT NULL,
    runbook_id     uuid        NOT NULL,
    incident_id    uuid        NOT NULL,
    -- The approval that allowed it; null for low risk.
    approval_id    uuid,
    document       text        NOT NULL,
    commands       jsonb       NOT NULL,
    parameters     jsonb       NOT NULL,
    instance_ids   jsonb       NOT NULL,
    status         text        NOT NULL CHECK (status IN ('requested', 'dispatching', 'dispatched', 'succeeded', 'failed', 'timed_out')),
    -- The SSM command id, once SSM accepted the command.
    command_id     text,
    requested_by   text        NOT NULL,
    requested_at   timestamptz NOT NULL,
    dispatched_at  timestamptz,
    finished_at    timestamptz,
    -- Why it failed, and the AWS error code when AWS refused it.
    failure_reason text,
    error_code     text,
    -- Per instance: {status, response_code, stdout, stderr (excerpts), at}.
    invocations    jsonb       NOT NULL,
    last_position  bigint      NOT NULL
);

COMMENT ON TABLE executions IS
    'One row per runbook execution, folded from the Execution aggregate''s events; rebuilt from the log by the remediation projector.';

CREATE INDEX executions_tenant_newest_idx ON executions (tenant_id, requested_at DESC, execution_id DESC);

-- Approval and execution events as entries of their incident's timeline
-- (the incident detail merges them with incident_timeline by position).
CREATE TABLE remediation_timeline
(
    position    bigint PRIMARY KEY,
    incident_id uuid        NOT NULL,
    tenant_id   uuid        NOT NULL,
    at          timestamptz NOT NULL,
    event_type  text        NOT NULL,
    actor       text,
    summary     text        NOT NULL,
    details     jsonb       NOT NULL
);

COMMENT ON TABLE remediation_timeline IS
    'Approval and execution events of each incident with a readable summary; append-only, rebuilt from the log by the remediation projector.';

CREATE INDEX remediation_timeline_incident_idx ON remediation_timeline (incident_id, position);
