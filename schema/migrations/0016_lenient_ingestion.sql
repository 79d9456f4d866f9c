-- Lenient ingestion (issue 15).
--
-- An alert stored with defaults carries the warnings of what was odd in the
-- tool's payload (inside its AlertReceived event); the alerts read model
-- shows them.
ALTER TABLE alerts
    ADD COLUMN normalization_warnings jsonb NOT NULL DEFAULT '[]';

COMMENT ON COLUMN alerts.normalization_warnings IS
    'What was odd in the tool''s payload and stored with a default: [{field, warning}], from AlertReceived.';

-- Refused deliveries are one DeliveryRejected event each, listed by
-- GET /api/v1/deliveries straight from the log: this partial index holds only
-- those events, so the list is an index scan whatever the number of alerts.
CREATE INDEX events_delivery_rejected_idx
    ON events (tenant_id, position DESC)
    WHERE event_type = 'DeliveryRejected';
