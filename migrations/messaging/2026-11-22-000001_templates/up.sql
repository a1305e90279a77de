-- Message templates: the texts an org sends (confirmation, reminder, missed-call text-back …).
CREATE TABLE templates (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id      uuid NOT NULL,
    key         text NOT NULL CHECK (key ~ '^[a-z][a-z0-9_]{0,63}$'),
    channel     text NOT NULL DEFAULT 'sms' CHECK (channel IN ('sms', 'whatsapp')),
    body        text NOT NULL CHECK (length(body) BETWEEN 1 AND 1600),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT templates_org_key_channel_unique UNIQUE (org_id, key, channel)
);
SELECT tenancy.enable_tenant_rls('templates');
