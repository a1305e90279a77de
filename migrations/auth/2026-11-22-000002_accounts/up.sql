-- Accounts, organizations, memberships, sessions and signing keys.

CREATE TABLE users (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email              text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    email_normalized   text NOT NULL UNIQUE,
    password_hash      text,
    display_name       text CHECK (display_name IS NULL OR length(display_name) <= 200),
    email_verified_at  timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE organizations (
    id                       uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name                     text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    timezone                 text NOT NULL,
    require_mfa              boolean NOT NULL DEFAULT false,
    session_lifetime_secs    integer CHECK (session_lifetime_secs IS NULL OR session_lifetime_secs > 0),
    inactivity_timeout_secs  integer CHECK (inactivity_timeout_secs IS NULL OR inactivity_timeout_secs > 0),
    created_by               uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at               timestamptz NOT NULL DEFAULT now(),
    deleted_at               timestamptz
);

-- Org-scoped (RLS), plus one extra read policy: a user may read their own memberships in every
-- org (login, org switch and "my orgs" happen before, or across, any one org).
CREATE TABLE memberships (
    org_id      uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role        text NOT NULL CHECK (role IN ('owner', 'admin', 'staff', 'viewer')),
    status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);
SELECT tenancy.enable_tenant_rls('memberships');
CREATE POLICY memberships_own_rows ON memberships FOR SELECT
    USING (user_id = NULLIF(current_setting('app.user_id', true), '')::uuid);

CREATE TABLE sessions (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id            uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    org_id             uuid REFERENCES organizations (id) ON DELETE SET NULL,
    aal                text NOT NULL DEFAULT 'aal1' CHECK (aal IN ('aal1', 'aal2')),
    amr                jsonb NOT NULL DEFAULT '[]'::jsonb,
    user_agent         text,
    ip                 text,
    refresh_counter    bigint NOT NULL DEFAULT 0,
    hmac_key           bytea NOT NULL,
    hmac_key_id        text NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    refreshed_at       timestamptz NOT NULL DEFAULT now(),
    not_after          timestamptz,
    revoked_at         timestamptz,
    revoked_reason     text
);
CREATE INDEX sessions_user ON sessions (user_id) WHERE revoked_at IS NULL;
COMMENT ON TABLE sessions IS 'system: a session belongs to a user and moves between that user''s orgs (org switch), and a refresh token finds it by id before any org is known; every endpoint filters it by the verified user and session';

-- Token signing keys: the private half sealed with servicekit's KeyRing (org = nil uuid).
CREATE TABLE signing_keys (
    kid           text PRIMARY KEY,
    alg           text NOT NULL CHECK (alg IN ('EdDSA', 'ES256')),
    private_key   bytea NOT NULL,
    enc_key_id    text NOT NULL,
    public_key    bytea NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    -- set when a newer key takes over: published until then so its tokens still verify
    retired_at    timestamptz,
    publish_until timestamptz
);

-- The audit log gains the request's origin, and a trigger makes it append-only for every role
-- (the REVOKE of the first migration covers only the service role).
ALTER TABLE audit_log ADD COLUMN ip text, ADD COLUMN user_agent text;
CREATE INDEX audit_log_org_action ON audit_log (org_id, action, created_at DESC);
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_log_no_rewrite BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
