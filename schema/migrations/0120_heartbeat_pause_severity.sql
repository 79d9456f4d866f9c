-- Heartbeats a tenant admin paused or deleted, and the severity of a missed
-- heartbeat's alert (issue 19). Operational state beside the Heartbeat
-- events (`HeartbeatPaused`, `HeartbeatResumed`, `HeartbeatDeleted`,
-- `severity` in `HeartbeatRegistered`/`HeartbeatChanged`), written in the
-- same transaction. A deleted heartbeat's row is deleted.

-- The heartbeat checker raises no miss for a paused heartbeat.
ALTER TABLE heartbeats
    ADD COLUMN paused   boolean NOT NULL DEFAULT false,
    ADD COLUMN severity text    NOT NULL DEFAULT 'high'
        CHECK (severity IN ('critical', 'high', 'medium', 'low'));
