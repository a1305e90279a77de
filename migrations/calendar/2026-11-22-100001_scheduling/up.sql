-- Clinic settings, weekly hours, date overrides, appointments (with holds) and the Google
-- Calendar connection. Rules: ../../../shared/specs/scheduling.md (§6: the exclusion constraint).
-- btree_gist is created by deploy/postgres/schemas.sql (a superuser step): the schema owner that
-- runs this migration may not create extensions.

-- One row per org: how the clinic books. Times of day are minutes since local midnight
-- (1440 = midnight at the end of the day) in the clinic's IANA zone, never UTC.
CREATE TABLE clinic_settings (
    org_id                          uuid PRIMARY KEY,
    timezone                        text NOT NULL CHECK (length(timezone) BETWEEN 1 AND 64),
    slot_interval_minutes           integer CHECK (slot_interval_minutes BETWEEN 5 AND 1440),
    min_notice_minutes              integer NOT NULL DEFAULT 120 CHECK (min_notice_minutes BETWEEN 0 AND 525600),
    booking_window_days             integer NOT NULL DEFAULT 60 CHECK (booking_window_days BETWEEN 1 AND 730),
    default_buffer_before_minutes   integer NOT NULL DEFAULT 0 CHECK (default_buffer_before_minutes BETWEEN 0 AND 240),
    default_buffer_after_minutes    integer NOT NULL DEFAULT 0 CHECK (default_buffer_after_minutes BETWEEN 0 AND 240),
    hold_minutes                    integer NOT NULL DEFAULT 5 CHECK (hold_minutes BETWEEN 1 AND 60),
    created_at                      timestamptz NOT NULL DEFAULT now(),
    updated_at                      timestamptz NOT NULL DEFAULT now()
);
SELECT tenancy.enable_tenant_rls('clinic_settings');

-- Weekly business hours: several ranges per weekday (1 = Monday … 7 = Sunday, ISO).
CREATE TABLE weekly_hours (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id        uuid NOT NULL,
    weekday       smallint NOT NULL CHECK (weekday BETWEEN 1 AND 7),
    start_minute  integer NOT NULL CHECK (start_minute BETWEEN 0 AND 1439),
    end_minute    integer NOT NULL CHECK (end_minute BETWEEN 1 AND 1440),
    CHECK (end_minute > start_minute)
);
CREATE INDEX weekly_hours_org ON weekly_hours (org_id, weekday, start_minute);
SELECT tenancy.enable_tenant_rls('weekly_hours');

-- A date override replaces that local date's hours; a row with start = end closes the day.
CREATE TABLE date_overrides (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id        uuid NOT NULL,
    day           date NOT NULL,
    start_minute  integer NOT NULL CHECK (start_minute BETWEEN 0 AND 1440),
    end_minute    integer NOT NULL CHECK (end_minute BETWEEN 0 AND 1440),
    CHECK (end_minute >= start_minute)
);
CREATE INDEX date_overrides_org ON date_overrides (org_id, day, start_minute);
SELECT tenancy.enable_tenant_rls('date_overrides');

-- Appointments and holds. block_* = the range including the buffers, computed by the app
-- (timestamptz ± interval is not IMMUTABLE, so it cannot live in the constraint).
CREATE TABLE appointments (
    id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id                 uuid NOT NULL,
    service_id             uuid NOT NULL,
    service_name           text NOT NULL,
    starts_at              timestamptz NOT NULL,
    ends_at                timestamptz NOT NULL,
    block_start            timestamptz NOT NULL,
    block_end              timestamptz NOT NULL,
    buffer_before_minutes  integer NOT NULL DEFAULT 0,
    buffer_after_minutes   integer NOT NULL DEFAULT 0,
    status                 text NOT NULL CHECK (status IN ('held', 'booked', 'completed', 'no_show', 'cancelled', 'expired')),
    hold_expires_at        timestamptz,
    source                 text NOT NULL CHECK (source IN ('voice', 'dashboard', 'api', 'google')),
    contact_name           text CHECK (length(contact_name) <= 200),
    contact_phone          text CHECK (length(contact_phone) <= 32),
    contact_email          text CHECK (length(contact_email) <= 320),
    call_id                uuid,
    notes                  text CHECK (length(notes) <= 2000),
    idempotency_key        text CHECK (length(idempotency_key) <= 255),
    request_hash           text,
    cancel_reason          text CHECK (length(cancel_reason) <= 500),
    cancelled_at           timestamptz,
    google_synced_at       timestamptz,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at > starts_at AND block_start <= starts_at AND block_end >= ends_at),
    CHECK ((status = 'held') = (hold_expires_at IS NOT NULL) OR status = 'expired'),
    -- No two active rows of one org overlap, buffers included: the database, not the app, says so.
    CONSTRAINT appointments_no_overlap EXCLUDE USING gist (
        org_id WITH =, tstzrange(block_start, block_end, '[)') WITH &&
    ) WHERE (status IN ('held', 'booked', 'completed', 'no_show'))
);
CREATE UNIQUE INDEX appointments_idem ON appointments (org_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX appointments_org_start ON appointments (org_id, starts_at, id);
CREATE INDEX appointments_org_phone ON appointments (org_id, contact_phone, starts_at)
    WHERE contact_phone IS NOT NULL;
SELECT tenancy.enable_tenant_rls('appointments');

-- The org's Google Calendar connection; the refresh token is AES-256-GCM sealed (org bound).
CREATE TABLE google_connections (
    org_id                  uuid PRIMARY KEY,
    status                  text NOT NULL CHECK (status IN ('connected', 'disconnected')),
    calendar_id             text NOT NULL DEFAULT 'primary',
    refresh_token_key_id    text,
    refresh_token_sealed    bytea,
    connected_by            uuid,
    connected_at            timestamptz,
    disconnected_at         timestamptz,
    last_error              text,
    busy_synced_at          timestamptz,
    updated_at              timestamptz NOT NULL DEFAULT now(),
    CHECK (status = 'disconnected' OR refresh_token_sealed IS NOT NULL)
);
SELECT tenancy.enable_tenant_rls('google_connections');

-- Busy time read from the connected Google Calendar (freeBusy), replaced on each refresh.
CREATE TABLE external_busy (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id      uuid NOT NULL,
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL,
    source      text NOT NULL DEFAULT 'google',
    CHECK (ends_at > starts_at)
);
CREATE INDEX external_busy_org ON external_busy (org_id, starts_at);
SELECT tenancy.enable_tenant_rls('external_busy');

-- Work for the Google worker, written in the same transaction as the change it mirrors.
CREATE TABLE google_sync_jobs (
    id               bigserial PRIMARY KEY,
    org_id           uuid NOT NULL,
    appointment_id   uuid NOT NULL,
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE google_sync_jobs IS 'system: outbox of Google Calendar writes, claimed across tenants by the sync worker; holds ids only, never read by tenant endpoints';
CREATE INDEX google_sync_jobs_due ON google_sync_jobs (next_attempt_at);

-- Which orgs' Google busy times are due for a refresh (the worker reads it across tenants).
CREATE TABLE google_busy_refresh (
    org_id           uuid PRIMARY KEY,
    next_refresh_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE google_busy_refresh IS 'system: schedule of Google freeBusy refreshes across tenants for the sync worker; holds org ids only, never read by tenant endpoints';
