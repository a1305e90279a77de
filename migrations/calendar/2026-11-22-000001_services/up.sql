-- The services catalog: what a clinic offers, how long it takes, what it costs.
CREATE TABLE services (
    id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id                 uuid NOT NULL,
    name                   text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description            text NOT NULL DEFAULT '' CHECK (length(description) <= 2000),
    duration_minutes       integer NOT NULL CHECK (duration_minutes BETWEEN 5 AND 1440),
    price_cents            bigint NOT NULL DEFAULT 0 CHECK (price_cents >= 0),
    currency               char(3) NOT NULL DEFAULT 'USD' CHECK (currency ~ '^[A-Z]{3}$'),
    buffer_before_minutes  integer NOT NULL DEFAULT 0 CHECK (buffer_before_minutes BETWEEN 0 AND 240),
    buffer_after_minutes   integer NOT NULL DEFAULT 0 CHECK (buffer_after_minutes BETWEEN 0 AND 240),
    active                 boolean NOT NULL DEFAULT true,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT services_org_name_unique UNIQUE (org_id, name)
);
-- Keyset pagination: (created_at, id) per org.
CREATE INDEX services_org_created ON services (org_id, created_at, id);
SELECT tenancy.enable_tenant_rls('services');
