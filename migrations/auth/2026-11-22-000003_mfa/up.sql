-- TOTP factors, their challenges, and recovery codes. All belong to a user (not an org).

CREATE TABLE mfa_factors (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    friendly_name   text CHECK (friendly_name IS NULL OR length(friendly_name) <= 100),
    secret          bytea NOT NULL,
    secret_key_id   text NOT NULL,
    status          text NOT NULL DEFAULT 'unverified' CHECK (status IN ('unverified', 'verified')),
    -- RFC 6238 §5.2: the last accepted step; a code of this step or an older one is refused.
    last_used_step  bigint,
    created_at      timestamptz NOT NULL DEFAULT now(),
    verified_at     timestamptz
);
CREATE INDEX mfa_factors_user ON mfa_factors (user_id);

CREATE TABLE mfa_challenges (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    factor_id    uuid NOT NULL REFERENCES mfa_factors (id) ON DELETE CASCADE,
    session_id   uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    verified_at  timestamptz
);

CREATE TABLE recovery_codes (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    used_at    timestamptz
);
CREATE INDEX recovery_codes_user ON recovery_codes (user_id) WHERE used_at IS NULL;
