-- Heartbeats and flapping (issue 19).

-- Heartbeats: operational state, NOT a read model. Registrations, changes
-- of settings and state changes (missed, recovered) are events (aggregate
-- Heartbeat); the last beat is not (one event per beat would flood the log),
-- so `last_seen_at` and `deadline` live only here. Written in the same
-- transaction as a heartbeat's events; a beat of a known heartbeat with
-- unchanged settings is one UPDATE of this row. The heartbeat checker reads
-- due deadlines from here, so a restart loses no deadline.
CREATE TABLE heartbeats
(
    heartbeat_id        uuid PRIMARY KEY,
    tenant_id           uuid        NOT NULL,
    name                text        NOT NULL,
    timeout_seconds     integer     NOT NULL CHECK (timeout_seconds > 0),
    asset               text,
    labels              jsonb       NOT NULL DEFAULT '{}',
    registered_at       timestamptz NOT NULL,
    last_seen_at        timestamptz NOT NULL,
    -- last_seen_at + timeout_seconds, kept beside it so the checker's scan
    -- is an index range.
    deadline            timestamptz NOT NULL,
    status              text        NOT NULL DEFAULT 'ok' CHECK (status IN ('ok', 'missed')),
    -- While missed: the alert raised, and the last beat it was raised for
    -- (a later beat is the recovery).
    missed_alert_id     uuid,
    missed_last_seen_at timestamptz,
    -- When the status last changed (missed or recovered).
    status_changed_at   timestamptz,
    UNIQUE (tenant_id, name)
);

CREATE INDEX heartbeats_due_idx ON heartbeats (deadline) WHERE status = 'ok';
CREATE INDEX heartbeats_missed_idx ON heartbeats (tenant_id) WHERE status = 'missed';

-- Flapping: the correlator's working state per alert key (follows from the
-- log): the key's last state, the times of its recent state changes, and
-- the incident it marked flapping. The flap settler reads keys stable for
-- their window from here and records `IncidentFlappingEnded`.
CREATE TABLE correlator_flaps
(
    tenant_id          uuid        NOT NULL,
    key                text        NOT NULL,
    -- 'firing' or 'resolved': the state of the key's latest alert.
    last_status        text        NOT NULL,
    -- Receipt times of its state changes inside the window, oldest first.
    changes            jsonb       NOT NULL DEFAULT '[]',
    last_change_at     timestamptz,
    -- The policy window in force when it was marked (how long it must be stable).
    window_minutes     integer     NOT NULL,
    flapping_incident  uuid,
    flapping_since     timestamptz,
    PRIMARY KEY (tenant_id, key)
);

CREATE INDEX correlator_flaps_flapping_idx ON correlator_flaps (last_change_at)
    WHERE flapping_incident IS NOT NULL;

-- The tenant's flapping policy as of the correlator's position.
ALTER TABLE correlator_tenants
    ADD COLUMN flapping jsonb NOT NULL DEFAULT '{}';

-- The incidents read model shows whether an incident flaps. `flapping` is
-- the notification hold: a flapping incident notifies nobody until it is
-- stable again (IncidentFlappingEnded).
ALTER TABLE incidents
    ADD COLUMN flapping        boolean NOT NULL DEFAULT false,
    ADD COLUMN flapping_since  timestamptz,
    ADD COLUMN flapping_reason text,
    ADD COLUMN flapping_count  integer NOT NULL DEFAULT 0;

-- KPIs: alerts held by maintenance windows, and incidents marked flapping
-- (counted on the day the incident opened, once per incident).
ALTER TABLE kpi_daily
    ADD COLUMN alerts_suppressed  bigint NOT NULL DEFAULT 0,
    ADD COLUMN incidents_flapping bigint NOT NULL DEFAULT 0;
ALTER TABLE kpi_history
    ADD COLUMN alerts_suppressed  bigint NOT NULL DEFAULT 0,
    ADD COLUMN incidents_flapping bigint NOT NULL DEFAULT 0;
ALTER TABLE kpi_incidents
    ADD COLUMN flapping boolean NOT NULL DEFAULT false;

-- Alerts suppressed per maintenance window per day, by the events recorded
-- at `recorded_at` (like kpi_history: a summary as of T sums the rows
-- recorded by T). The `kpis` projector's; rebuilt from the log.
CREATE TABLE kpi_window_suppressions
(
    tenant_id   uuid        NOT NULL,
    window_id   uuid        NOT NULL,
    day         date        NOT NULL,
    recorded_at timestamptz NOT NULL,
    alerts      bigint      NOT NULL,
    PRIMARY KEY (tenant_id, window_id, day, recorded_at)
);

CREATE INDEX kpi_window_suppressions_day_idx ON kpi_window_suppressions (day, recorded_at);

-- The new KPI counters cover history too: the kpis projector starts again
-- from the beginning of the log and fills its tables consistently (as
-- migration 0037 did).
TRUNCATE kpi_daily, kpi_incidents, kpi_history, kpi_window_suppressions;
DELETE FROM projector_checkpoints WHERE name = 'kpis';
