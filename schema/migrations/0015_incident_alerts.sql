-- Incident membership in a table of its own.
--
-- `incidents.alert_ids` / `resolved_alert_ids` were arrays that grew with every
-- alert: each batch touching a busy incident (thousands of alerts: the noise
-- correlation exists to absorb) read and rewrote the whole array, so the cost
-- of one more alert grew with the incident. One row per attached alert keeps
-- it constant. Read models are disposable: the incidents projection starts
-- over and replays the log into the new shape.
CREATE TABLE incident_alerts
(
    incident_id       uuid        NOT NULL,
    alert_id          uuid        NOT NULL,
    tenant_id         uuid        NOT NULL,
    -- Position of the event that attached it (IncidentOpened for the first
    -- alert, else AlertAttached): the incident's alerts in attach order.
    attached_position bigint      NOT NULL,
    attached_at       timestamptz NOT NULL,
    -- Its source reported it resolved (IncidentAlertResolved); null while it fires.
    resolved_position bigint,
    resolved_at       timestamptz,
    PRIMARY KEY (incident_id, alert_id)
);

COMMENT ON TABLE incident_alerts IS
    'Every alert attached to an incident, one row each, with when it was attached and resolved at its source; kept by the incidents projector.';

ALTER TABLE incidents
    DROP COLUMN alert_ids,
    DROP COLUMN resolved_alert_ids;

TRUNCATE incidents, incident_timeline;
DELETE FROM projector_checkpoints WHERE name = 'incidents';
