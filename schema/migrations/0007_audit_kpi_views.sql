-- Read models for analysts: the audit trail and the KPIs.
--
-- Like every read model these are plain tables rebuilt from the event log
-- (`projections rebuild audit|kpis`), so they carry no foreign keys and no
-- serials: every value comes from an event, and a rebuild must reproduce the
-- live rows exactly.

-- One entry per event of every aggregate (configuration changes included):
-- who did what to what, and when. Written by the `audit` projector.
CREATE TABLE audit_entries
(
    -- The event's log position (unique, never reused).
    position       bigint PRIMARY KEY,
    -- The event's own `at` (when it happened), else when it was recorded.
    at             timestamptz NOT NULL,
    tenant_id      uuid        NOT NULL,
    -- Who: the metadata's actor (`user:<id>`, `api_key:<id>`, `worker:<name>`,
    -- `cli:<user>`), else the actor named in the payload (`user:<id>`), else `system`.
    actor          text        NOT NULL,
    -- What: the event type in snake_case (`incident_acknowledged`,
    -- `correlation_policy_changed`).
    action         text        NOT NULL,
    -- To what: `<aggregate type in snake_case>:<aggregate id>` (`incident:<id>`,
    -- `alert:<id>`, `tenant:<id>`).
    target         text        NOT NULL,
    aggregate_type text        NOT NULL,
    aggregate_id   text        NOT NULL,
    -- The event's fields, with secret material (hashes, ciphertexts) removed.
    details        jsonb       NOT NULL
);

-- `?tenant=` (with or without `from`/`to`), newest first, paged by position.
CREATE INDEX audit_entries_tenant_idx ON audit_entries (tenant_id, position DESC);
-- `?tenant=&actor=` and `?tenant=&action=`, newest first.
CREATE INDEX audit_entries_tenant_actor_idx ON audit_entries (tenant_id, actor, position DESC);
CREATE INDEX audit_entries_tenant_action_idx ON audit_entries (tenant_id, action, position DESC);
-- Time ranges across a tenant's whole history (`?tenant=&from=&to=` over years).
CREATE INDEX audit_entries_tenant_at_idx ON audit_entries (tenant_id, at);
-- Cross-tenant questions of an MSP admin (`?actor=` alone: "what did this person do").
CREATE INDEX audit_entries_actor_idx ON audit_entries (actor, position DESC);

COMMENT ON TABLE audit_entries IS
    'Audit trail: one entry per event (who, what, target, when, details without secrets). Rebuilt from the log by the audit projector.';
COMMENT ON COLUMN audit_entries.actor IS
    'metadata actor, else the payload''s actor as user:<id>, else system';
COMMENT ON COLUMN audit_entries.details IS
    'the event''s fields, minus secret material (API key hashes, secret ciphertexts)';

-- KPIs per tenant per UTC day. Written by the `kpis` projector.
--
-- Alerts count on the day they were received; every incident metric counts on
-- the day the incident was OPENED, so a day's MTTA/MTTR describe the incidents
-- of that day. The columns always reflect the current state of history: a
-- reopened incident stops counting as resolved until it is resolved again.
-- Averages are sums divided by counts, so any range of days can be summed.
CREATE TABLE kpi_daily
(
    tenant_id             uuid          NOT NULL,
    day                   date          NOT NULL,
    -- Alerts received that day.
    alerts                bigint        NOT NULL DEFAULT 0,
    -- Incidents opened that day.
    incidents             bigint        NOT NULL DEFAULT 0,
    -- Of those incidents, how many were ever acknowledged, and the sum of their
    -- opened -> first acknowledgement times (MTTA = ack_seconds_total / acknowledged).
    acknowledged          bigint        NOT NULL DEFAULT 0,
    ack_seconds_total     numeric(20,3) NOT NULL DEFAULT 0,
    -- Of those incidents, how many stand resolved now, and the sum of their
    -- opened -> latest resolution times (MTTR = resolve_seconds_total / resolved).
    resolved              bigint        NOT NULL DEFAULT 0,
    resolve_seconds_total numeric(20,3) NOT NULL DEFAULT 0,
    -- Of the resolved ones, how many were resolved by a runbook (self-healed).
    self_healed           bigint        NOT NULL DEFAULT 0,
    -- Of those incidents, how many were escalated at least once.
    escalated             bigint        NOT NULL DEFAULT 0,
    -- Approvals requested that day, and approvals granted, rejected or expired
    -- that day: pending at the end of day D = sum over days <= D of the difference.
    approvals_requested   bigint        NOT NULL DEFAULT 0,
    approvals_closed      bigint        NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, day)
);

-- Ranges across tenants (an MSP admin's summary of every tenant).
CREATE INDEX kpi_daily_day_idx ON kpi_daily (day);

COMMENT ON TABLE kpi_daily IS
    'KPIs per tenant per UTC day; incident metrics on the day the incident was opened. Rebuilt from the log by the kpis projector.';
COMMENT ON COLUMN kpi_daily.ack_seconds_total IS
    'sum of opened -> first acknowledgement, in seconds (millisecond precision), over the acknowledged incidents';
COMMENT ON COLUMN kpi_daily.resolve_seconds_total IS
    'sum of opened -> latest resolution, in seconds (millisecond precision), over the incidents resolved now';

-- Where each incident stands for the KPIs, so an acknowledgement, resolution
-- or reopen can adjust the totals of the day the incident was opened.
-- Owned by the `kpis` projector, beside kpi_daily.
CREATE TABLE kpi_incidents
(
    incident_id     uuid PRIMARY KEY,
    tenant_id       uuid        NOT NULL,
    -- The UTC day of opened_at: the kpi_daily row this incident counts in.
    opened_day      date        NOT NULL,
    opened_at       timestamptz NOT NULL,
    -- The first acknowledgement (a later one, after a reopen, does not move it).
    acknowledged_at timestamptz,
    -- The latest resolution; NULL while open, including after a reopen.
    resolved_at     timestamptz,
    -- Whether the current resolution is a self-healing one (runbook).
    self_healed     boolean     NOT NULL DEFAULT false,
    -- Escalated at least once.
    escalated       boolean     NOT NULL DEFAULT false
);

COMMENT ON TABLE kpi_incidents IS
    'Per-incident state behind kpi_daily (opened day, first ack, current resolution). Rebuilt from the log by the kpis projector.';
