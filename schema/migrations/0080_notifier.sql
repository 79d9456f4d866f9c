-- The notifier (issue 18): rules evaluated on incident events, and an outbox
-- of notifications delivered with retries.
--
-- Events (the audit trail) say what was decided and how it ended:
-- NotificationRequested (before any attempt), NotificationDelivered,
-- NotificationFailed, NotificationPolicyMatched. The rows below are
-- operational state: the notifier's fold of what it needs to decide
-- (notifier_*), the outbox it delivers from, and each attempt. Attempts are
-- rows, not events: a receiver down for an hour would otherwise write an
-- event per retry for nothing an auditor needs beyond the final outcome
-- (which carries the attempt count).

-- The notifier's fold of the tenants' channels and rules (NotificationSetup
-- events), so rules are evaluated as the log stood at the incident event.
CREATE TABLE notifier_channels
(
    channel_id   uuid PRIMARY KEY,
    tenant_id    uuid  NOT NULL,
    channel_type text  NOT NULL,
    name         text  NOT NULL,
    settings     jsonb NOT NULL
);

CREATE TABLE notifier_rules
(
    rule_id   uuid PRIMARY KEY,
    tenant_id uuid  NOT NULL,
    rule      jsonb NOT NULL
);

CREATE INDEX notifier_rules_tenant_idx ON notifier_rules (tenant_id);

-- What a message says of an incident (from IncidentOpened and its first
-- alert), and its status as later events change it.
CREATE TABLE notifier_incidents
(
    incident_id uuid PRIMARY KEY,
    tenant_id   uuid  NOT NULL,
    facts       jsonb NOT NULL
);

-- One row per requested notification (id = the NotificationDelivery
-- aggregate id = the webhook-id receivers see). `slot_at` is when its
-- storm-coalescing slot starts (its first attempt's due time); messages of
-- the same incident and channel that come within the interval are folded
-- into `held_back` of the next slot's row.
CREATE TABLE notification_outbox
(
    notification_id uuid PRIMARY KEY,
    tenant_id       uuid        NOT NULL,
    incident_id     uuid        NOT NULL,
    channel_id      uuid        NOT NULL,
    channel_type    text        NOT NULL,
    message         jsonb       NOT NULL,
    held_back       jsonb       NOT NULL DEFAULT '[]'::jsonb,
    status          text        NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        integer     NOT NULL DEFAULT 0,
    slot_at         timestamptz NOT NULL,
    due_at          timestamptz NOT NULL,
    created_at      timestamptz NOT NULL,
    finished_at     timestamptz,
    last_error      text
);

CREATE INDEX notification_outbox_due_idx ON notification_outbox (due_at) WHERE status = 'pending';
CREATE INDEX notification_outbox_pair_idx ON notification_outbox (incident_id, channel_id, slot_at DESC);

COMMENT ON TABLE notification_outbox IS
    'Notifications to deliver (operational state of the notifier); each row''s request, delivery or failure is also an event.';

CREATE TABLE notification_attempts
(
    notification_id uuid        NOT NULL REFERENCES notification_outbox (notification_id),
    attempt         integer     NOT NULL,
    at              timestamptz NOT NULL,
    code            integer,
    error           text,
    PRIMARY KEY (notification_id, attempt)
);

-- Read models (the `notifications` projector, rebuilt from the log).
CREATE TABLE notifications
(
    notification_id uuid PRIMARY KEY,
    tenant_id       uuid        NOT NULL,
    incident_id     uuid        NOT NULL,
    channel_id      uuid,
    channel_type    text,
    rule_id         uuid        NOT NULL,
    trigger         text        NOT NULL,
    status          text        NOT NULL,
    attempts        integer     NOT NULL DEFAULT 0,
    held_back       integer     NOT NULL DEFAULT 0,
    code            integer,
    error           text,
    policy_id       uuid,
    due_at          timestamptz,
    requested_at    timestamptz NOT NULL,
    finished_at     timestamptz,
    position        bigint      NOT NULL
);

CREATE INDEX notifications_tenant_idx ON notifications (tenant_id, requested_at DESC, notification_id DESC);
CREATE INDEX notifications_incident_idx ON notifications (incident_id);

-- Notification events as entries of their incident's timeline (same
-- columns as incident_timeline; GET /incidents/{id} merges them by position).
CREATE TABLE notification_timeline
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

CREATE INDEX notification_timeline_incident_idx ON notification_timeline (incident_id, position);

