-- Voice's own data: the clinic profile it speaks with, agents' settings, phone numbers, the
-- routing tables Vapi webhooks are resolved through before any org is known, calls, encrypted
-- transcripts, tool invocations (idempotent on Vapi's toolCallId), messages taken on calls and
-- the webhook delivery log.

-- What voice knows about an org (filled by the org.created.v1 consumer): the name and IANA time
-- zone the agent speaks with.
CREATE TABLE org_profiles (
    org_id      uuid PRIMARY KEY,
    name        text NOT NULL,
    timezone    text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
SELECT tenancy.enable_tenant_rls('org_profiles');

ALTER TABLE agents
    ADD COLUMN system_prompt        text NOT NULL DEFAULT '',
    ADD COLUMN first_message        text NOT NULL DEFAULT '',
    ADD COLUMN voice                text NOT NULL DEFAULT '',
    ADD COLUMN language             text NOT NULL DEFAULT 'en',
    ADD COLUMN enabled_tools        text[] NOT NULL DEFAULT '{}',
    ADD COLUMN transfer_number      text,
    ADD COLUMN after_hours_message  text,
    ADD COLUMN is_default           boolean NOT NULL DEFAULT false;
-- One default agent per org.
CREATE UNIQUE INDEX agents_one_default ON agents (org_id) WHERE is_default;

CREATE TABLE phone_numbers (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id                uuid NOT NULL,
    number                text NOT NULL CHECK (number ~ '^\+[1-9][0-9]{6,14}$'),
    label                 text NOT NULL DEFAULT '',
    vapi_phone_number_id  text,
    agent_id              uuid REFERENCES agents (id) ON DELETE SET NULL,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX phone_numbers_org ON phone_numbers (org_id, created_at, id);
SELECT tenancy.enable_tenant_rls('phone_numbers');

-- Vapi identifiers (phone number id, dialled E.164 number, assistant id, call id) → org. Webhooks
-- are resolved here before the org is known, so this cannot be a tenant table. A number, a Vapi
-- phone number or a Vapi assistant belongs to one org at a time: the primary key enforces it.
CREATE TABLE routes (
    kind             text NOT NULL CHECK (kind IN ('vapi_phone_number_id', 'number', 'vapi_assistant_id', 'vapi_call_id')),
    key              text NOT NULL,
    org_id           uuid NOT NULL,
    phone_number_id  uuid,
    agent_id         uuid,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, key)
);
CREATE INDEX routes_org ON routes (org_id);
COMMENT ON TABLE routes IS 'system: resolves Vapi webhooks (phone number id, dialled number, assistant id, call id) to their org before the org is known; never read by tenant endpoints';

CREATE TABLE calls (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id              uuid NOT NULL,
    vapi_call_id        text NOT NULL,
    agent_id            uuid,
    phone_number_id     uuid,
    direction           text NOT NULL CHECK (direction IN ('inbound', 'outbound', 'web')),
    from_number         text,
    to_number           text,
    caller_name         text,
    status              text NOT NULL,
    -- Position of `status` in the call's life: updates only ever move it forward.
    status_rank         integer NOT NULL,
    started_at          timestamptz,
    ended_at            timestamptz,
    duration_seconds    integer CHECK (duration_seconds >= 0),
    ended_reason        text,
    cost_usd            double precision,
    summary             text,
    structured_data     jsonb,
    success_evaluation  text,
    recording_url       text,
    booked              boolean NOT NULL DEFAULT false,
    report_received     boolean NOT NULL DEFAULT false,
    started_event_sent  boolean NOT NULL DEFAULT false,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, vapi_call_id)
);
CREATE INDEX calls_org_created ON calls (org_id, created_at DESC, id DESC);
SELECT tenancy.enable_tenant_rls('calls');

-- The transcript and message list of a call, sealed with the key ring (org id bound).
CREATE TABLE call_transcripts (
    call_id     uuid PRIMARY KEY REFERENCES calls (id) ON DELETE CASCADE,
    org_id      uuid NOT NULL,
    key_id      text NOT NULL,
    ciphertext  bytea NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
SELECT tenancy.enable_tenant_rls('call_transcripts');

CREATE TABLE tool_invocations (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id         uuid NOT NULL,
    call_id        uuid REFERENCES calls (id) ON DELETE CASCADE,
    tool_call_id   text NOT NULL UNIQUE,
    name           text NOT NULL,
    -- ok: `result` was answered; error: `error` was answered (never replayed: a retry runs again).
    outcome        text NOT NULL CHECK (outcome IN ('ok', 'error')),
    result         text NOT NULL,
    duration_ms    integer NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tool_invocations_call ON tool_invocations (org_id, call_id);
SELECT tenancy.enable_tenant_rls('tool_invocations');

-- Messages taken by the agent (`take_message`); the text is sealed like transcripts.
CREATE TABLE call_messages (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id           uuid NOT NULL,
    call_id          uuid REFERENCES calls (id) ON DELETE CASCADE,
    callback_number  text,
    key_id           text NOT NULL,
    ciphertext       bytea NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX call_messages_org ON call_messages (org_id, created_at);
SELECT tenancy.enable_tenant_rls('call_messages');

-- Every webhook Vapi sent that we must act on later: stored before it is applied, so a failure
-- leaves it here (`failed`) for `voice-webhook replay`. The org may be unknown (unknown number).
CREATE TABLE webhook_deliveries (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id        uuid,
    message_type  text NOT NULL,
    vapi_call_id  text,
    -- Vapi's idempotency key of the message (call id + status, call id for the report):
    -- a second delivery with the same key is recorded nowhere and applied never.
    dedupe_key    text UNIQUE,
    key_id        text NOT NULL,
    payload       bytea NOT NULL,
    received_at   timestamptz NOT NULL DEFAULT now(),
    outcome       text NOT NULL CHECK (outcome IN ('received', 'applied', 'failed', 'unknown_tenant')),
    error         text,
    attempts      integer NOT NULL DEFAULT 0,
    applied_at    timestamptz
);
CREATE INDEX webhook_deliveries_failed ON webhook_deliveries (received_at) WHERE outcome = 'failed';
COMMENT ON TABLE webhook_deliveries IS 'system: durable log of Vapi webhooks written before their org is resolved and replayed by operators across orgs; payloads sealed with the org (or nil) as associated data; never read by tenant endpoints';

-- Vapi tool ids by tool name, recorded by `voice-webhook sync-tools`; global to the Vapi account.
CREATE TABLE vapi_tools (
    name          text PRIMARY KEY,
    vapi_tool_id  text NOT NULL,
    definition    jsonb NOT NULL,
    synced_at     timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE vapi_tools IS 'system: the Vapi account''s global tool ids by name (one set for every org); never read by tenant endpoints';
