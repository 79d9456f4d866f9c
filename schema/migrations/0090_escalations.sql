-- Escalation policies and on-call schedules (issue 18). Both tables follow
-- from the log and can be dropped and rebuilt.

-- The escalation worker's due list: one row per running escalation, kept
-- by the log consumer `escalation-timers` from `EscalationStarted` (due at
-- once), `EscalationLevelReached` (due at its `next_due_at`; the row goes
-- after the last step) and `EscalationStopped` (the row goes). An incident
-- acknowledged or resolved sets `stop_reason`, and the worker records the
-- stop at its next round. Deadlines come from recorded events, so a restart
-- loses and repeats nothing.
CREATE TABLE escalation_timers
(
    escalation_id    uuid PRIMARY KEY,
    tenant_id        uuid        NOT NULL,
    incident_id      uuid        NOT NULL,
    policy_id        uuid        NOT NULL,
    run              integer     NOT NULL,
    due_at           timestamptz NOT NULL,
    -- incident_acknowledged | incident_resolved, once the log says so.
    stop_reason      text,
    started_position bigint      NOT NULL
);

CREATE INDEX escalation_timers_due_idx ON escalation_timers (due_at);
CREATE INDEX escalation_timers_incident_idx ON escalation_timers (incident_id);

-- Escalation events as entries of their incident's timeline (the incident
-- detail merges them with incident_timeline by position); same columns.
CREATE TABLE escalation_timeline
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

COMMENT ON TABLE escalation_timeline IS
    'Escalation events of each incident (started, level reached with its reason and targets, stopped); append-only, rebuilt from the log by the escalations projector.';

CREATE INDEX escalation_timeline_incident_idx ON escalation_timeline (incident_id, position);
