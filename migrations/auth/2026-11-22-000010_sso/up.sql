-- External sign-in identities (Google SSO): which provider account (`provider`, `provider_sub`)
-- logs in as which user. Linked by the provider's subject, never by email alone.
CREATE TABLE identities (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id        uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider       text NOT NULL CHECK (length(provider) BETWEEN 1 AND 50),
    provider_sub   text NOT NULL CHECK (length(provider_sub) BETWEEN 1 AND 255),
    email          text CHECK (email IS NULL OR length(email) <= 254),
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_login_at  timestamptz,
    UNIQUE (provider, provider_sub)
);
CREATE INDEX identities_user ON identities (user_id);
COMMENT ON TABLE identities IS 'system: an identity belongs to a user, not an org, and the SSO callback finds it by (provider, sub) before any org is known';
