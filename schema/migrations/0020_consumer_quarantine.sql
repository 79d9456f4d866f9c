-- Quarantined log events (issue 16, H1): an operator's
-- `alertledger projections quarantine NAME --position P --reason TEXT` records a
-- `ConsumerEventQuarantined` event; every consumer batch (and every rebuild)
-- reads its skip list from these events, so this partial index keeps that
-- lookup to the few quarantine events instead of a scan of the log.
CREATE INDEX events_quarantine_idx
    ON events ((payload #>> '{ConsumerEventQuarantined,consumer}'))
    WHERE event_type = 'ConsumerEventQuarantined';
