-- Durable revocation (ADR 0011). The database is the truth about revoked sessions; the Redis
-- marks every service checks are a cache that auth rewrites from here (`revocation_sync`), so a
-- lost mark (Redis restart, eviction, a write that failed after the commit) comes back within
-- a second.
CREATE INDEX sessions_revoked_at ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;
CREATE INDEX sessions_user_revoked ON sessions (user_id, revoked_at) WHERE revoked_at IS NOT NULL;

-- The orgs a session acted in before it switched org: its tokens for that org stay valid until
-- they expire, so removing a member, changing their role or deleting the org must still find
-- the session (`left_at` + the access-token lifetime bounds how long that matters).
CREATE TABLE session_orgs (
    session_id  uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    org_id      uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    left_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (session_id, org_id)
);
CREATE INDEX session_orgs_org ON session_orgs (org_id, left_at);
COMMENT ON TABLE session_orgs IS 'system: the orgs a session switched away from (its earlier tokens still carry them); read by session id and by org when that org revokes its members'' sessions';

-- Every org switch is recorded, whichever code path changes the session's org.
CREATE FUNCTION sessions_remember_org() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO session_orgs (session_id, org_id, left_at)
    VALUES (OLD.id, OLD.org_id, now())
    ON CONFLICT (session_id, org_id) DO UPDATE SET left_at = now();
    RETURN NEW;
END $$;
CREATE TRIGGER sessions_org_switch AFTER UPDATE OF org_id ON sessions
    FOR EACH ROW WHEN (OLD.org_id IS NOT NULL AND OLD.org_id IS DISTINCT FROM NEW.org_id)
    EXECUTE FUNCTION sessions_remember_org();
