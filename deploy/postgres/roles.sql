-- Cluster-wide roles for Voxanne (idempotent; run by a superuser). Included by bootstrap.sql and
-- executed by testkit before it builds template databases.
--   <schema>_owner : owns one schema, runs that service's migrations only.
--   svc_<schema>   : the service's runtime login. NOSUPERUSER NOBYPASSRLS, owns nothing, DML only.
-- Neither kind can bypass row-level security (docs/adr/0001-tenant-isolation.md).
BEGIN;
-- Concurrent bootstraps (parallel test processes) would race on CREATE ROLE.
DO $$ BEGIN PERFORM pg_advisory_xact_lock(7239001); END $$;
DO $$
DECLARE
  s text;
BEGIN
  FOREACH s IN ARRAY ARRAY['auth', 'voice', 'calendar', 'messaging', 'leads'] LOOP
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = s || '_owner') THEN
      EXECUTE format('CREATE ROLE %I LOGIN', s || '_owner');
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'svc_' || s) THEN
      EXECUTE format('CREATE ROLE %I LOGIN', 'svc_' || s);
    END IF;
    -- Re-assert the attributes every time: a hand-edited role is put back in line.
    EXECUTE format('ALTER ROLE %I NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION', s || '_owner');
    EXECUTE format('ALTER ROLE %I NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION', 'svc_' || s);
  END LOOP;
END
$$;
COMMIT;
