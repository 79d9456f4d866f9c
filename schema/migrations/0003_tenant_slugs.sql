-- Tenant slugs are unique. The Tenant aggregate cannot see other tenants, so the
-- uniqueness is claimed here before TenantRegistered is recorded (and released
-- if recording fails). This table is derived data: the log stays the truth.
CREATE TABLE tenant_slugs
(
    slug       text PRIMARY KEY,
    tenant_id  uuid        NOT NULL UNIQUE,
    claimed_at timestamptz NOT NULL DEFAULT now()
);

-- Claim the slugs of tenants registered before this table existed (oldest first).
INSERT INTO tenant_slugs (slug, tenant_id, claimed_at)
SELECT payload -> 'TenantRegistered' ->> 'slug', tenant_id, recorded_at
  FROM events
 WHERE event_type = 'TenantRegistered'
 ORDER BY transaction_id, position
ON CONFLICT DO NOTHING;
