-- The KPI read model's own history, so `GET /kpis?as_of=T` is answered with
-- plain SELECTs instead of building the projection from the log into a
-- scratch schema per request (issue 16, amplification).
--
-- Kept by the `kpis` projector beside kpi_daily: what the events recorded
-- at one instant (`recorded_at`, the start of their writing transaction)
-- added to one (tenant, day) row of kpi_daily. So for every day,
--
--     kpi_daily            = sum over kpi_history of that (tenant, day)
--     kpi_daily as of T    = sum over kpi_history of that (tenant, day)
--                            with recorded_at <= T
--
-- which is what a build of the projection from the events recorded at or
-- before T produces. Counts can be negative (a reopen takes back a
-- resolution recorded earlier).
CREATE TABLE kpi_history
(
    tenant_id             uuid          NOT NULL,
    day                   date          NOT NULL,
    recorded_at           timestamptz   NOT NULL,
    alerts                bigint        NOT NULL DEFAULT 0,
    incidents             bigint        NOT NULL DEFAULT 0,
    acknowledged          bigint        NOT NULL DEFAULT 0,
    ack_seconds_total     numeric(20,3) NOT NULL DEFAULT 0,
    resolved              bigint        NOT NULL DEFAULT 0,
    resolve_seconds_total numeric(20,3) NOT NULL DEFAULT 0,
    self_healed           bigint        NOT NULL DEFAULT 0,
    escalated             bigint        NOT NULL DEFAULT 0,
    approvals_requested   bigint        NOT NULL DEFAULT 0,
    approvals_closed      bigint        NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, day, recorded_at)
);

-- An MSP admin's summary across tenants as of a time.
CREATE INDEX kpi_history_day_idx ON kpi_history (day, recorded_at);

COMMENT ON TABLE kpi_history IS
    'What the events recorded at each instant added to each kpi_daily row; kpi_daily as of T is the sum of the rows recorded at or before T. Rebuilt from the log by the kpis projector.';

-- kpi_history starts empty while kpi_daily already holds history: the kpis
-- projector starts again from the beginning of the log and fills all three
-- tables consistently (its checkpoint row is created again on its next batch).
TRUNCATE kpi_daily, kpi_incidents;
DELETE FROM projector_checkpoints WHERE name = 'kpis';
