-- Approvals approve exactly what was reviewed (issue 16, H2).
--
-- An approval request pins the runbook's version and the SHA-256 of what it
-- runs (document, commands, parameters, risk, target instances); the
-- approval views show the pin and the pinned content. Requests recorded
-- before this change have no pin: their columns stay null (they can no
-- longer be granted; see docs/remediation.md). The new columns are filled
-- from the events as they arrive, so no replay is needed.
ALTER TABLE approvals
    ADD COLUMN runbook_version        bigint,
    ADD COLUMN runbook_content_sha256 text,
    ADD COLUMN runbook_content        jsonb;

-- A run refused before anything was sent (ExecutionRefused), e.g. because
-- the runbook changed since its approval was requested; `failure_reason`
-- holds why.
ALTER TABLE executions
    DROP CONSTRAINT executions_status_check,
    ADD CONSTRAINT executions_status_check
        CHECK (status IN ('requested', 'dispatching', 'dispatched', 'succeeded', 'failed', 'timed_out', 'refused'));
