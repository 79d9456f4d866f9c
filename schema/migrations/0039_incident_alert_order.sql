-- An incident's detail carries only its first alert ids, and
-- `GET /incidents/{id}/alerts` pages the rest (issue 16: the detail of an
-- incident with 100,000 alerts was one unbounded answer). Keyset pages in
-- attach order and in resolution order read these indexes from the cursor
-- on, so every page costs the same however large the incident.
CREATE INDEX incident_alerts_attach_order_idx
    ON incident_alerts (incident_id, attached_position, alert_id);
CREATE INDEX incident_alerts_resolve_order_idx
    ON incident_alerts (incident_id, resolved_position, alert_id)
    WHERE resolved_position IS NOT NULL;
