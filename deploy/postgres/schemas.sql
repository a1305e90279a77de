-- Per-database layout for Voxanne (idempotent; run by a superuser connected to the database).
-- One schema per service owned by <schema>_owner; svc_<schema> gets USAGE on its own schema only
-- and DML on its tables through default privileges; search_path is set per role in this database.
-- The `tenancy` schema holds the one tenant-RLS helper every migration calls.
BEGIN;
DO $$ BEGIN PERFORM pg_advisory_xact_lock(7239002); END $$;
SET LOCAL client_min_messages = warning;

REVOKE ALL ON SCHEMA public FROM PUBLIC;
CREATE SCHEMA IF NOT EXISTS tenancy;
REVOKE ALL ON SCHEMA tenancy FROM PUBLIC;

-- btree_gist (calendar's no-overlap exclusion constraint over org_id and a time range) needs a
-- superuser to install; schema owners cannot. Its objects live in their own schema.
CREATE SCHEMA IF NOT EXISTS extensions;
REVOKE ALL ON SCHEMA extensions FROM PUBLIC;
CREATE EXTENSION IF NOT EXISTS btree_gist SCHEMA extensions;
-- pg_trgm (voice's knowledge base: typo-tolerant search, trigram similarity of words) likewise.
-- voice's roles call its functions and operators schema-qualified (`extensions.similarity`).
CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA extensions;
GRANT USAGE ON SCHEMA extensions TO voice_owner, svc_voice;

-- org_id never changes once written: moving a row between tenants is a copy + delete, by design.
CREATE OR REPLACE FUNCTION tenancy.forbid_org_id_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.org_id IS DISTINCT FROM OLD.org_id THEN
    RAISE EXCEPTION 'org_id is immutable on %.%', TG_TABLE_SCHEMA, TG_TABLE_NAME
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END
$$;

-- The tenant pattern, in one place (ARCHITECTURE §3). A migration creating a tenant table calls
--   SELECT tenancy.enable_tenant_rls('<table>');
-- right after CREATE TABLE. Runs with the caller's rights: only the table owner can apply it.
CREATE OR REPLACE FUNCTION tenancy.enable_tenant_rls(tbl regclass) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
  EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', tbl);
  EXECUTE format('DROP POLICY IF EXISTS tenant_isolation ON %s', tbl);
  EXECUTE format(
    'CREATE POLICY tenant_isolation ON %s AS PERMISSIVE FOR ALL '
    'USING (org_id = NULLIF(current_setting(''app.org_id'', true), '''')::uuid) '
    'WITH CHECK (org_id = NULLIF(current_setting(''app.org_id'', true), '''')::uuid)', tbl);
  EXECUTE format('DROP TRIGGER IF EXISTS org_id_immutable ON %s', tbl);
  EXECUTE format(
    'CREATE TRIGGER org_id_immutable BEFORE UPDATE OF org_id ON %s '
    'FOR EACH ROW EXECUTE FUNCTION tenancy.forbid_org_id_change()', tbl);
END
$$;
REVOKE ALL ON FUNCTION tenancy.enable_tenant_rls(regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION tenancy.forbid_org_id_change() FROM PUBLIC;

DO $$
DECLARE
  s text;
  owner text;
  login text;
  t regclass;
BEGIN
  EXECUTE format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database());
  FOREACH s IN ARRAY ARRAY['auth', 'voice', 'calendar', 'messaging', 'leads'] LOOP
    owner := s || '_owner';
    login := 'svc_' || s;
    EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO %I, %I', current_database(), owner, login);
    EXECUTE format('CREATE SCHEMA IF NOT EXISTS %I AUTHORIZATION %I', s, owner);
    EXECUTE format('ALTER SCHEMA %I OWNER TO %I', s, owner);
    EXECUTE format('REVOKE ALL ON SCHEMA %I FROM PUBLIC', s);
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', s, login);
    EXECUTE format('GRANT USAGE ON SCHEMA tenancy TO %I', owner);
    EXECUTE format('GRANT EXECUTE ON FUNCTION tenancy.enable_tenant_rls(regclass), tenancy.forbid_org_id_change() TO %I', owner);
    EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA %I GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO %I', owner, s, login);
    EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA %I GRANT USAGE, SELECT ON SEQUENCES TO %I', owner, s, login);
    -- Tables created before this ran (a re-bootstrap after a restore) get the same grants, but
    -- only tables the login role holds nothing on: a table whose migration narrowed the grants
    -- (the append-only audit log revokes UPDATE, DELETE) keeps them narrowed when this re-runs.
    FOR t IN
      SELECT c.oid::regclass FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = s AND c.relkind IN ('r', 'p')
         AND NOT has_table_privilege(login, c.oid, 'SELECT')
         AND NOT has_table_privilege(login, c.oid, 'INSERT')
    LOOP
      EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO %I', t, login);
    END LOOP;
    EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %I TO %I', s, login);
    EXECUTE format('ALTER ROLE %I IN DATABASE %I SET search_path = %I', owner, current_database(), s);
    EXECUTE format('ALTER ROLE %I IN DATABASE %I SET search_path = %I', login, current_database(), s);
  END LOOP;
END
$$;
COMMIT;
