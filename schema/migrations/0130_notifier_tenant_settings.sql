-- A tenant's own coalescing interval (issue 18: storm control per tenant).
-- The notifier folds NotificationSettingsChanged here, in log order, so a
-- message is coalesced with the interval that was set when its incident
-- event was recorded. No row, or a NULL interval: the process setting
-- (ALERTLEDGER_NOTIFY_COALESCE_SECONDS) applies.
CREATE TABLE notifier_tenants
(
    tenant_id        uuid PRIMARY KEY,
    coalesce_seconds integer CHECK (coalesce_seconds >= 0)
);
