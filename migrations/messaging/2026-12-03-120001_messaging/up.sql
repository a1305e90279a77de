-- Messaging (issue 12): each org's Twilio account, the messages audit trail with its status
-- history, the durable send queue, opt-outs with their audit, per-org settings and what the
-- service knows of each appointment (for ordering and reply `C`). docs/adr/0016-messaging.md.

-- An org's own Twilio account (BYOC). Secrets sealed with the org as associated data.
CREATE TABLE twilio_accounts (
    org_id                  uuid PRIMARY KEY,
    account_sid             text NOT NULL CHECK (account_sid ~ '^AC[0-9a-fA-F]{32}$'),
    auth_token_key_id       text NOT NULL,
    auth_token_sealed       bytea NOT NULL,
    api_key_sid             text CHECK (api_key_sid ~ '^SK[0-9a-fA-F]{32}$'),
    api_key_secret_key_id   text,
    api_key_secret_sealed   bytea,
    from_number             text,
    messaging_service_sid   text CHECK (messaging_service_sid ~ '^MG[0-9a-fA-F]{32}$'),
    whatsapp_from           text,
    verified_at             timestamptz NOT NULL,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    CHECK ((api_key_sid IS NULL) = (api_key_secret_sealed IS NULL)),
    CHECK (from_number IS NOT NULL OR messaging_service_sid IS NOT NULL)
);
SELECT tenancy.enable_tenant_rls('twilio_accounts');

-- Per-org messaging settings; a missing row means the defaults.
CREATE TABLE settings (
    org_id                  uuid PRIMARY KEY,
    clinic_name             text NOT NULL DEFAULT '',
    timezone                text NOT NULL DEFAULT 'UTC',
    quiet_start             time NOT NULL DEFAULT '21:00',
    quiet_end               time NOT NULL DEFAULT '08:00',
    reminder_offsets_minutes integer[] NOT NULL DEFAULT '{1440,120}',
    missed_call_textback    boolean NOT NULL DEFAULT true,
    staff_numbers           text[] NOT NULL DEFAULT '{}',
    help_text               text NOT NULL DEFAULT '',
    twilio_replies_to_keywords boolean NOT NULL DEFAULT true,
    updated_at              timestamptz NOT NULL DEFAULT now()
);
SELECT tenancy.enable_tenant_rls('settings');

-- Every message, outbound and inbound. The body is sealed (org + purpose as associated data).
CREATE TABLE messages (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id              uuid NOT NULL,
    direction           text NOT NULL CHECK (direction IN ('outbound', 'inbound')),
    channel             text NOT NULL CHECK (channel IN ('sms', 'whatsapp')),
    kind                text NOT NULL,
    to_number           text NOT NULL,
    from_number         text,
    body_key_id         text NOT NULL,
    body_sealed         bytea NOT NULL,
    body_sha256         text NOT NULL,
    template_key        text,
    content_sid         text,
    status              text NOT NULL,
    status_rank         integer NOT NULL DEFAULT 0,
    twilio_sid          text,
    error_code          text,
    error_reason        text,
    idempotency_key     text,
    request_sha256      text,
    dedupe_key          text,
    appointment_id      uuid,
    send_at             timestamptz NOT NULL DEFAULT now(),
    attempts            integer NOT NULL DEFAULT 0,
    last_attempt_at     timestamptz,
    sent_at             timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
SELECT tenancy.enable_tenant_rls('messages');
CREATE UNIQUE INDEX messages_org_sid ON messages (org_id, twilio_sid) WHERE twilio_sid IS NOT NULL;
CREATE UNIQUE INDEX messages_org_idempotency ON messages (org_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE UNIQUE INDEX messages_org_dedupe ON messages (org_id, dedupe_key) WHERE dedupe_key IS NOT NULL;
CREATE INDEX messages_org_created ON messages (org_id, created_at DESC, id DESC);
CREATE INDEX messages_org_to ON messages (org_id, to_number, created_at DESC);
CREATE INDEX messages_org_from_inbound ON messages (org_id, from_number, created_at DESC) WHERE direction = 'inbound';
CREATE INDEX messages_org_appointment ON messages (org_id, appointment_id) WHERE appointment_id IS NOT NULL;

-- Status history of a message, in the order it was recorded.
CREATE TABLE message_events (
    id          bigserial PRIMARY KEY,
    org_id      uuid NOT NULL,
    message_id  uuid NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    status      text NOT NULL,
    source      text NOT NULL,
    error_code  text,
    applied     boolean NOT NULL,
    at          timestamptz NOT NULL DEFAULT now()
);
SELECT tenancy.enable_tenant_rls('message_events');
CREATE INDEX message_events_message ON message_events (message_id, id);

-- The durable send queue: one row per outbound message still to be sent (or resolved).
CREATE TABLE send_jobs (
    message_id  uuid PRIMARY KEY,
    org_id      uuid NOT NULL,
    due_at      timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE send_jobs IS 'system: the durable send queue, claimed across tenants with FOR UPDATE SKIP LOCKED by any replica''s dispatcher; holds ids and times only, never read by tenant endpoints';
CREATE INDEX send_jobs_due ON send_jobs (due_at);

-- Numbers that must not be messaged (STOP, a 21610 from Twilio, or an admin).
CREATE TABLE opt_outs (
    org_id      uuid NOT NULL,
    phone       text NOT NULL,
    source      text NOT NULL,
    keyword     text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, phone)
);
SELECT tenancy.enable_tenant_rls('opt_outs');

-- Every opt-out and opt-in, whoever made it (append-only).
CREATE TABLE opt_out_audit (
    id          bigserial PRIMARY KEY,
    org_id      uuid NOT NULL,
    phone       text NOT NULL,
    action      text NOT NULL CHECK (action IN ('opt_out', 'opt_in')),
    source      text NOT NULL,
    keyword     text,
    actor_user_id uuid,
    at          timestamptz NOT NULL DEFAULT now()
);
SELECT tenancy.enable_tenant_rls('opt_out_audit');
CREATE INDEX opt_out_audit_org_phone ON opt_out_audit (org_id, phone, id);

-- What messaging knows of an appointment: the newest version applied (events arrive out of
-- order) and who it is for (a reply `C` finds it).
CREATE TABLE appointments (
    org_id          uuid NOT NULL,
    appointment_id  uuid NOT NULL,
    version         bigint NOT NULL,
    status          text NOT NULL,
    starts_at       timestamptz NOT NULL,
    phone           text,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, appointment_id)
);
SELECT tenancy.enable_tenant_rls('appointments');
CREATE INDEX appointments_org_phone ON appointments (org_id, phone, starts_at);

ALTER TABLE templates ADD COLUMN content_sid text;
