-- SNS subscription requests (issue 15, item 7).
--
-- A SubscriptionConfirmation from AWS SNS is one SnsSubscriptionRequested
-- tenant event, listed by GET /api/v1/tenants/{id}/sns-subscriptions
-- straight from the log (like refused deliveries, migration 0016): this
-- partial index holds only those events, so the list is an index scan and
-- needs no read-model table, no projector and nothing to rebuild. Whether a
-- request is still pending (AWS honours its token for three days) is worked
-- out when listing.
CREATE INDEX events_sns_subscription_requested_idx
    ON events (tenant_id, position DESC)
    WHERE event_type = 'SnsSubscriptionRequested';
