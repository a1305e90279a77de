-- Feature flags: global definitions (operators set them with `auth flags set`) and per-org
-- overrides (org admins, audited).
CREATE TABLE feature_flags (
    key              text PRIMARY KEY CHECK (key ~ '^[a-z][a-z0-9_.-]{0,63}$'),
    description      text NOT NULL DEFAULT '',
    default_enabled  boolean NOT NULL DEFAULT false,
    rollout_percent  smallint NOT NULL DEFAULT 0 CHECK (rollout_percent BETWEEN 0 AND 100),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE flag_overrides (
    org_id      uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    key         text NOT NULL REFERENCES feature_flags (key) ON DELETE CASCADE,
    enabled     boolean NOT NULL,
    updated_by  uuid REFERENCES users (id) ON DELETE SET NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, key)
);
SELECT tenancy.enable_tenant_rls('flag_overrides');
