-- "Assigned to me" (GET /api/v1/incidents?assignee=<user id>|me): the
-- incidents of one person, per tenant or across every tenant (an MSP admin
-- without ?tenant=). Partial: most incidents are never assigned, and an
-- unassigned row costs this index nothing when the projector rewrites it
-- (one more alert attached changes the row, not its assignee). The handful
-- of rows it finds are sorted after the lookup.
CREATE INDEX incidents_assignee_idx ON incidents (assignee, tenant_id) WHERE assignee IS NOT NULL;
