-- The service's own database role (docs/threat-model.md, API.md "Database
-- roles"). The role that runs migrations owns every table; `serve` connects
-- as a login role that is a member of the group role `alertledger_service`,
-- which owns nothing and holds only these grants:
--
--   append-only tables (events, the seal: audit_leaves, audit_nodes,
--   audit_checkpoints, and any table guarded by a *_reject_rewrite trigger)
--                      SELECT, INSERT. Without UPDATE, DELETE or TRUNCATE,
--                      and without ownership (ALTER TABLE ... DISABLE
--                      TRIGGER needs it), the service's credentials cannot
--                      rewrite history even with the triggers in the way.
--   every other table  SELECT, INSERT, UPDATE, DELETE (read models, workers'
--                      state, projector checkpoints). No TRUNCATE.
--   sequences          USAGE, SELECT (bigserial defaults).
--   the database       CONNECT, TEMPORARY (staged upserts use temp tables)
--                      and CREATE: `GET /kpis?as_of=` builds history into a
--                      scratch schema of its own and drops it. A schema the
--                      service creates is its own; it grants nothing on
--                      `public`, where PostgreSQL 15 lets only the owner create.
--
-- Roles are cluster-wide while databases are not (tests make one database
-- per test on one server), so the group role is created only if missing, and
-- a concurrent migration creating it first is not an error.
DO
$$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'alertledger_service') THEN
        CREATE ROLE alertledger_service NOLOGIN;
    END IF;
EXCEPTION
    WHEN duplicate_object OR unique_violation THEN
        NULL; -- another database's migration created it meanwhile
END;
$$;

-- Grants the service's privileges on every table of `public` as it stands.
-- `alertledger_schema::migrate` calls it after every run of the migrations
-- (so tables of later migrations are covered) and a rebuild calls it after
-- swapping its shadow tables in (new tables carry no grants). Only the
-- owner of the tables can run it.
CREATE FUNCTION alertledger_grant_service_privileges() RETURNS void
    LANGUAGE plpgsql AS
$$
DECLARE
    t record;
BEGIN
    EXECUTE format('GRANT CONNECT, TEMPORARY, CREATE ON DATABASE %I TO alertledger_service',
                   current_database());
    GRANT USAGE ON SCHEMA public TO alertledger_service;
    FOR t IN
        SELECT c.relname,
               c.relname IN ('events', 'audit_leaves', 'audit_nodes', 'audit_checkpoints')
                   OR EXISTS (SELECT 1
                                FROM pg_trigger g
                                JOIN pg_proc p ON p.oid = g.tgfoid
                               WHERE g.tgrelid = c.oid
                                 AND p.proname LIKE '%reject_rewrite') AS append_only
          FROM pg_class c
         WHERE c.relnamespace = 'public'::regnamespace
           AND c.relkind IN ('r', 'p', 'v', 'm')
    LOOP
        EXECUTE format('REVOKE ALL ON TABLE public.%I FROM alertledger_service', t.relname);
        IF t.relname = '_sqlx_migrations' THEN
            -- /readyz compares the applied migrations with its own.
            EXECUTE format('GRANT SELECT ON TABLE public.%I TO alertledger_service', t.relname);
        ELSIF t.append_only THEN
            EXECUTE format('GRANT SELECT, INSERT ON TABLE public.%I TO alertledger_service',
                           t.relname);
        ELSE
            EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE public.%I TO alertledger_service',
                           t.relname);
        END IF;
    END LOOP;
    GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO alertledger_service;
END;
$$;

REVOKE ALL ON FUNCTION alertledger_grant_service_privileges() FROM PUBLIC;

SELECT alertledger_grant_service_privileges();
