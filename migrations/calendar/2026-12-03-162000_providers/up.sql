-- Providers (issue 15): the people or rooms a clinic books, each with its own hours (falling
-- back to the clinic's), the services it provides and optionally its own Google calendar.
-- Appointments belong to one provider; the exclusion constraint is per provider, so a clinic
-- with three dentists sees three patients at once. ADR 0021.

CREATE TABLE providers (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id              uuid NOT NULL,
    name                text NOT NULL CHECK (length(name) BETWEEN 1 AND 120),
    active              boolean NOT NULL DEFAULT true,
    -- The provider every org starts with (one per org): today's "the clinic".
    is_default          boolean NOT NULL DEFAULT false,
    -- NULL: the clinic's weekly hours; else {"monday": [{"start": "09:00", "end": "12:00"}], …}.
    weekly_hours        jsonb,
    -- The provider's own date overrides, [{"date": "2026-12-24", "hours": []}, …]; a date not
    -- listed falls back to the clinic's override, then to the weekly hours.
    date_overrides      jsonb NOT NULL DEFAULT '[]',
    -- NULL: every service of the clinic; else exactly these.
    service_ids         uuid[],
    google_calendar_id  text CHECK (length(google_calendar_id) BETWEEN 1 AND 255),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX providers_org_name_unique ON providers (org_id, lower(name));
CREATE UNIQUE INDEX providers_one_default ON providers (org_id) WHERE is_default;
CREATE INDEX providers_org_created ON providers (org_id, created_at, id);

-- One default provider for every org that has calendar data, created while RLS is not forced
-- (the owner runs this migration and sees every org only then).
ALTER TABLE clinic_settings NO FORCE ROW LEVEL SECURITY;
ALTER TABLE services NO FORCE ROW LEVEL SECURITY;
ALTER TABLE appointments NO FORCE ROW LEVEL SECURITY;
INSERT INTO providers (org_id, name, is_default)
SELECT org_id, 'Clinic', true FROM (
    SELECT org_id FROM clinic_settings
    UNION SELECT org_id FROM services
    UNION SELECT org_id FROM appointments
) orgs;

ALTER TABLE appointments ADD COLUMN provider_id uuid;
ALTER TABLE appointments ADD COLUMN provider_name text;
UPDATE appointments a SET provider_id = p.id, provider_name = p.name
    FROM providers p WHERE p.org_id = a.org_id AND p.is_default;
ALTER TABLE appointments ALTER COLUMN provider_id SET NOT NULL;
ALTER TABLE appointments ALTER COLUMN provider_name SET NOT NULL;
ALTER TABLE clinic_settings FORCE ROW LEVEL SECURITY;
ALTER TABLE services FORCE ROW LEVEL SECURITY;
ALTER TABLE appointments FORCE ROW LEVEL SECURITY;
SELECT tenancy.enable_tenant_rls('providers');

-- No two active rows of one *provider* overlap, buffers included.
ALTER TABLE appointments DROP CONSTRAINT appointments_no_overlap;
ALTER TABLE appointments ADD CONSTRAINT appointments_no_overlap EXCLUDE USING gist (
    org_id WITH =, provider_id WITH =, tstzrange(block_start, block_end, '[)') WITH &&
) WHERE (status IN ('held', 'booked', 'confirmed', 'completed', 'no_show'));
-- A provider's load on a day (the booking's least-loaded rule) and its busy time.
CREATE INDEX appointments_org_provider_start ON appointments (org_id, provider_id, starts_at);
