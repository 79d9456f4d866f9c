-- The service role no longer creates schemas: `GET /kpis?as_of=` answers
-- from kpi_history (0037) instead of building the projection into a scratch
-- schema of its own, which was the only use of CREATE on the database
-- (0025). Builds from history (`projections rebuild`, `--until`) run from
-- the command line as the owner.
--
-- The grant function is replaced so that re-applying it after every
-- migration run does not grant CREATE again; otherwise it is 0025's.
CREATE OR REPLACE FUNCTION alertledger_grant_service_privileges() RETURNS void
    LANGUAGE plpgsql AS
$$
DECLARE
    t record;
BEGIN
    EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO alertledger_service',
                   current_database());
    EXECUTE format('REVOKE CREATE ON DATABASE %I FROM alertledger_service',
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
