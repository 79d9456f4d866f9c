-- Maintenance windows and silences (issue 19). Everything here is the
-- correlator's working state and follows from the log.

-- The windows in force per tenant, as of the correlator's position:
-- [{window_id, spec, ended_through}] (see workers/src/correlator/state.rs).
ALTER TABLE correlator_tenants
    ADD COLUMN windows jsonb NOT NULL DEFAULT '[]';

-- Alerts a window holds back, until the end of the window's occurrence.
-- The window closer reads the due ends from here (so a restart loses no
-- end) and records them as `MaintenanceWindowEnded`; the correlator then
-- correlates what still fires and deletes the rows.
CREATE TABLE correlator_suppressed
(
    alert_id  uuid PRIMARY KEY,
    tenant_id uuid        NOT NULL,
    window_id uuid        NOT NULL,
    until     timestamptz NOT NULL,
    -- {alert: {alert_id, at, severity, tool_source, asset, signature}, labels}
    alert     jsonb       NOT NULL
);

CREATE INDEX correlator_suppressed_until_idx ON correlator_suppressed (until);
CREATE INDEX correlator_suppressed_window_idx ON correlator_suppressed (window_id);

-- The alerts read model shows which window held an alert back, until when
-- (null once lifted) and when the window let it go to be correlated; the
-- window views count suppressed alerts per window from here.
ALTER TABLE alerts
    ADD COLUMN suppressed_by         uuid,
    ADD COLUMN suppressed_until      timestamptz,
    ADD COLUMN suppression_lifted_at timestamptz;

CREATE INDEX alerts_suppressed_by_idx ON alerts (suppressed_by) WHERE suppressed_by IS NOT NULL;
