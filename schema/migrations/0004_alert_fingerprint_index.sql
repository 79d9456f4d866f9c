-- A resolved (or acknowledged) notification from a monitoring tool must find the
-- open alerts it refers to: same tenant, same fingerprint. Partial, so only
-- alert receipts pay for it.
CREATE INDEX events_alert_fingerprint_idx
    ON events (tenant_id, (payload -> 'AlertReceived' ->> 'fingerprint'), position)
    WHERE event_type = 'AlertReceived';
