-- The correlator's working state, moved in the same transaction as its
-- checkpoint and the decisions it records, so a restart resumes exactly where
-- it stopped. Everything here follows from the log; nothing here is the truth.

-- Per tenant: the correlation policy and critical assets as of the
-- correlator's position in the log (a policy change affects later alerts only).
CREATE TABLE correlator_tenants
(
    tenant_id       uuid PRIMARY KEY,
    policy          jsonb  NOT NULL,
    critical_assets text[] NOT NULL DEFAULT '{}'
);

-- Per tenant and rendered aggregation key: the open incident alerts of that
-- key join, and the alerts still waiting (for min_alerts, or for an
-- on-demand run when auto_correlate is off).
CREATE TABLE correlator_keys
(
    tenant_id     uuid    NOT NULL,
    key           text    NOT NULL,
    incident_id   uuid,
    opened_at     timestamptz,
    -- Receipt time of the latest alert attached (the window runs from it).
    last_alert_at timestamptz,
    -- Highest severity seen, distinct tools, alert count: the priority inputs.
    severity      text,
    tool_sources  text[]  NOT NULL DEFAULT '{}',
    alert_count   integer NOT NULL DEFAULT 0,
    critical      boolean NOT NULL DEFAULT false,
    -- Alerts waiting for an incident: [{alert_id, at, severity, tool_source, asset, signature}].
    pending       jsonb   NOT NULL DEFAULT '[]',
    PRIMARY KEY (tenant_id, key)
);

CREATE INDEX correlator_keys_incident_idx ON correlator_keys (incident_id) WHERE incident_id IS NOT NULL;
CREATE INDEX correlator_keys_waiting_idx ON correlator_keys (tenant_id) WHERE pending <> '[]';
