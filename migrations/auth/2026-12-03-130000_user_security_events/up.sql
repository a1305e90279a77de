-- Issue 11 item 7c: security events about a person (failed logins, a lockout, a password reset
-- asked for their email) are recorded once, for the user, instead of once in every org they
-- belong to. The user reads them (`GET /api/auth/user/security-events`); an org's admins read
-- their members' only when the org shares them (`share_member_login_failures`, ADR 0010).
CREATE TABLE user_security_events (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    action      text NOT NULL CHECK (length(action) BETWEEN 1 AND 100),
    metadata    jsonb NOT NULL DEFAULT '{}'::jsonb,
    ip          text,
    user_agent  text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX user_security_events_user_created ON user_security_events (user_id, created_at DESC, id DESC);
COMMENT ON TABLE user_security_events IS 'system: about a person, not an org; every query filters by the verified user, or by the active members of an org that shares them (joined through its RLS-protected memberships)';
-- History is not rewritten by the service (rows go with their user).
REVOKE UPDATE ON user_security_events FROM svc_auth;

ALTER TABLE organizations
    ADD COLUMN share_member_login_failures boolean NOT NULL DEFAULT false;
