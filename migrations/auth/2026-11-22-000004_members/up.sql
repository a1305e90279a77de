-- Invitations into an org, tokens for password reset and email verification, and the mail
-- outbox the mailer reads.

CREATE TABLE invitations (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id       uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    email        text NOT NULL,
    email_normalized text NOT NULL,
    role         text NOT NULL CHECK (role IN ('owner', 'admin', 'staff', 'viewer')),
    token_hash   bytea NOT NULL UNIQUE,
    invited_by   uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    accepted_at  timestamptz,
    accepted_by  uuid REFERENCES users (id) ON DELETE SET NULL,
    revoked_at   timestamptz
);
CREATE INDEX invitations_org ON invitations (org_id, created_at DESC);
SELECT tenancy.enable_tenant_rls('invitations');

-- Single-use, expiring, hashed tokens mailed to a user (no org: a user's own).
CREATE TABLE email_tokens (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose     text NOT NULL CHECK (purpose IN ('recovery', 'verify_email')),
    token_hash  bytea NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX email_tokens_user ON email_tokens (user_id, purpose) WHERE used_at IS NULL;

-- Mail handed to the mailer: stored first (durable), sent by the SMTP worker when one is
-- configured; without SMTP it stays here for the local run and the tests to read.
CREATE TABLE mail_outbox (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    to_email    text NOT NULL,
    kind        text NOT NULL,
    subject     text NOT NULL,
    body        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    sent_at     timestamptz,
    attempts    integer NOT NULL DEFAULT 0,
    last_error  text
);
CREATE INDEX mail_outbox_unsent ON mail_outbox (created_at) WHERE sent_at IS NULL;
