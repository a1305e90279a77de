-- The auth audit log: append-only record of security-relevant actions per org.
CREATE TABLE audit_log (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id      uuid NOT NULL,
    actor_id    uuid,
    action      text NOT NULL CHECK (length(action) BETWEEN 1 AND 100),
    target      text,
    metadata    jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_org_created ON audit_log (org_id, created_at DESC);
SELECT tenancy.enable_tenant_rls('audit_log');

-- Append-only: the service role may insert and read, never rewrite history.
REVOKE UPDATE, DELETE ON audit_log FROM svc_auth;
