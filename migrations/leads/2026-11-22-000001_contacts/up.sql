-- Contacts: every caller an org has heard from, the subject of lead scores.
CREATE TABLE contacts (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id      uuid NOT NULL,
    phone_e164  text NOT NULL CHECK (phone_e164 ~ '^\+[1-9][0-9]{6,14}$'),
    name        text,
    email       text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT contacts_org_phone_unique UNIQUE (org_id, phone_e164)
);
SELECT tenancy.enable_tenant_rls('contacts');
