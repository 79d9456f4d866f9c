-- Read models of alerts and incidents, kept by the `alerts` and `incidents`
-- projectors from the global log (projections/src/read_models).
--
-- Like every read model they are disposable: `projections rebuild` recreates
-- them from the events, so they hold nothing the log does not. They are plain
-- tables for analysts to query with SQL: no foreign keys (a rebuild fills each
-- table on its own), no serial columns (every key comes from an event), and
-- enumerations stored as the API spells them.
--
-- Timestamps named `*_at` come from the events' own `at` fields (the domain's
-- clock), not from when the projector ran. `*_position` columns are event
-- positions in the global log, so a row can be traced back to its events.

CREATE TABLE alerts
(
    alert_id             uuid PRIMARY KEY,
    tenant_id            uuid        NOT NULL,
    -- The webhook route it arrived on (generic, alertmanager, datadog, ...).
    source               text        NOT NULL,
    -- The monitoring tool that reported it (prometheus, zabbix, ...).
    tool_source          text        NOT NULL,
    asset                text        NOT NULL,
    signature            text        NOT NULL,
    severity             text        NOT NULL CHECK (severity IN ('critical', 'high', 'medium', 'low')),
    message              text        NOT NULL,
    -- Whether the source still reports it: firing until a resolution arrives.
    status               text        NOT NULL CHECK (status IN ('firing', 'resolved')),
    labels               jsonb       NOT NULL,
    -- The tool's identity of the problem; later notifications find it by this.
    fingerprint          text        NOT NULL,
    -- The delivery's idempotency key, from which alert_id is derived.
    delivery_key         text        NOT NULL,
    -- When the tool says the condition began.
    occurred_at          timestamptz NOT NULL,
    -- When alertledger received it; the list route's "newest first".
    received_at          timestamptz NOT NULL,
    -- Position of the AlertReceived event.
    received_position    bigint      NOT NULL,
    -- When the source reported it cleared (the receipt time if it arrived resolved).
    resolved_at          timestamptz,
    acknowledged_at      timestamptz,
    -- User id of who acknowledged it (`source:<tool>` when the tool did).
    acknowledged_by      text,
    acknowledgement_note text,
    -- The incident the correlator put it in; null until correlated.
    incident_id          uuid,
    correlated_at        timestamptz,
    -- The correlator's recorded reason: {key, window_minutes, decision, explanation}.
    correlation_reason   jsonb,
    -- Position of the last event applied to this row.
    last_position        bigint      NOT NULL
);

COMMENT ON TABLE alerts IS
    'One row per received alert, folded from the Alert aggregate''s events; rebuilt from the log by the alerts projector.';

-- The list route: a tenant's alerts newest first, optionally by status or asset.
CREATE INDEX alerts_tenant_newest_idx ON alerts (tenant_id, received_at DESC, alert_id DESC);
CREATE INDEX alerts_tenant_status_idx ON alerts (tenant_id, status, received_at DESC, alert_id DESC);
CREATE INDEX alerts_tenant_asset_idx ON alerts (tenant_id, asset, received_at DESC, alert_id DESC);
-- Every tenant at once (msp_admin without ?tenant=).
CREATE INDEX alerts_newest_idx ON alerts (received_at DESC, alert_id DESC);
-- The alerts of one incident.
CREATE INDEX alerts_incident_idx ON alerts (incident_id) WHERE incident_id IS NOT NULL;

CREATE TABLE incidents
(
    incident_id            uuid PRIMARY KEY,
    tenant_id              uuid        NOT NULL,
    -- The rendered aggregation key its alerts share (e.g. web01|HighCPU).
    key                    text        NOT NULL,
    asset                  text        NOT NULL,
    signature              text        NOT NULL,
    severity               text        NOT NULL CHECK (severity IN ('critical', 'high', 'medium', 'low')),
    -- Folded exactly as the Incident aggregate's apply does.
    status                 text        NOT NULL
        CHECK (status IN ('new', 'acknowledged', 'in_progress', 'escalated', 'resolved')),
    -- The correlator's recorded score (0..=200); higher sorts first.
    priority_score         smallint    NOT NULL,
    -- Every attached alert, in the order they were attached (the first alert first).
    alert_ids              uuid[]      NOT NULL,
    alert_count            integer     NOT NULL,
    -- The attached alerts whose source reported them resolved, in that order.
    resolved_alert_ids     uuid[]      NOT NULL,
    resolved_alert_count   integer     NOT NULL,
    -- Distinct tools that reported its alerts, sorted.
    tool_sources           text[]      NOT NULL,
    -- User id it is assigned to.
    assignee               text,
    opened_at              timestamptz NOT NULL,
    -- The first acknowledgement ever (end of MTTA), kept across reopenings.
    acknowledged_at        timestamptz,
    -- The latest resolution (end of MTTR); null while open, also after a reopening.
    resolved_at            timestamptz,
    -- How it was resolved ({"kind": "manual"} or {"kind": "self_healed", "execution_id"}), with
    -- who and the note; null while open.
    resolution             jsonb,
    escalation_count       integer     NOT NULL,
    -- When every attached alert had been resolved at its source; null while any fires.
    all_alerts_resolved_at timestamptz,
    -- The correlator's reason for opening it: {key, window_minutes, decision, explanation}.
    opening_reason         jsonb       NOT NULL,
    -- `at` of the latest event applied.
    last_event_at          timestamptz NOT NULL,
    -- Position of IncidentOpened and of the latest event applied.
    opened_position        bigint      NOT NULL,
    last_position          bigint      NOT NULL
);

COMMENT ON TABLE incidents IS
    'One row per incident, folded from the Incident aggregate''s events; rebuilt from the log by the incidents projector.';

-- The list route: by priority (sort=priority) or newest first, per tenant.
CREATE INDEX incidents_tenant_priority_idx
    ON incidents (tenant_id, priority_score DESC, opened_at DESC, incident_id DESC);
CREATE INDEX incidents_tenant_newest_idx ON incidents (tenant_id, opened_at DESC, incident_id DESC);
CREATE INDEX incidents_tenant_status_idx ON incidents (tenant_id, status);
-- Every tenant at once (msp_admin without ?tenant=).
CREATE INDEX incidents_newest_idx ON incidents (opened_at DESC, incident_id DESC);

CREATE TABLE incident_timeline
(
    -- The event's position: one entry per incident event, in log order.
    position    bigint PRIMARY KEY,
    incident_id uuid        NOT NULL,
    tenant_id   uuid        NOT NULL,
    -- The event's own `at`.
    at          timestamptz NOT NULL,
    event_type  text        NOT NULL,
    -- Who caused it, from the event's metadata (user:<id>, api_key:<id>,
    -- worker:<name>), else the actor the event names; null when neither does.
    actor       text,
    -- A sentence for people, e.g. "Alert <id> attached: open incident with key web01|HighCPU within 15 minutes".
    summary     text        NOT NULL,
    -- The event's payload fields, including the correlation `reason` where there is one.
    details     jsonb       NOT NULL
);

COMMENT ON TABLE incident_timeline IS
    'Every event of every incident with a readable summary; append-only, rebuilt from the log by the incidents projector.';

CREATE INDEX incident_timeline_incident_idx ON incident_timeline (incident_id, position);
