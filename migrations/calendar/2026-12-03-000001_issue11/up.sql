-- Issue 11 (ADR 0012): default buffers applied, services archived instead of deleted, a
-- per-appointment version for event consumers, and Google sync jobs that fail visibly.

-- A service's buffers may be left to the clinic's defaults (NULL = use
-- clinic_settings.default_buffer_*). Until now a missing buffer was stored as 0 and the clinic's
-- defaults were never read: 0 and "not given" cannot be told apart, so a stored 0 becomes NULL
-- (an admin who wants an explicit 0 under a non-zero default sets it again).
ALTER TABLE services
    ALTER COLUMN buffer_before_minutes DROP NOT NULL,
    ALTER COLUMN buffer_before_minutes DROP DEFAULT,
    ALTER COLUMN buffer_after_minutes DROP NOT NULL,
    ALTER COLUMN buffer_after_minutes DROP DEFAULT;
UPDATE services SET buffer_before_minutes = NULL WHERE buffer_before_minutes = 0;
UPDATE services SET buffer_after_minutes = NULL WHERE buffer_after_minutes = 0;

-- Archived services are kept (appointments point at them) but neither listed by default nor
-- offered nor bookable.
ALTER TABLE services ADD COLUMN archived_at timestamptz;
-- An archived name may be used again by a new service.
ALTER TABLE services DROP CONSTRAINT services_org_name_unique;
CREATE UNIQUE INDEX services_org_name_unique ON services (org_id, name) WHERE archived_at IS NULL;

-- Monotonic per appointment: 1 on insert, +1 on every change; sent in appointment.* events so a
-- consumer can drop an older change delivered after a newer one.
ALTER TABLE appointments ADD COLUMN version bigint NOT NULL DEFAULT 1 CHECK (version >= 1);

-- A sync job that used up its attempts (or met a permanent error, or whose org lost its Google
-- connection) stays, marked failed: the integration status counts it and a reconnect retries it.
ALTER TABLE google_sync_jobs ADD COLUMN failed_at timestamptz;
DROP INDEX google_sync_jobs_due;
CREATE INDEX google_sync_jobs_due ON google_sync_jobs (next_attempt_at) WHERE failed_at IS NULL;
CREATE INDEX google_sync_jobs_failed ON google_sync_jobs (org_id) WHERE failed_at IS NOT NULL;
COMMENT ON TABLE google_sync_jobs IS 'system: outbox of Google Calendar writes, claimed across tenants by the sync worker; holds ids only; tenant endpoints read only their own org''s failed-job count (filtered by org_id)';
