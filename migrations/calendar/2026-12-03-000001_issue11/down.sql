DROP INDEX google_sync_jobs_failed;
DROP INDEX google_sync_jobs_due;
DELETE FROM google_sync_jobs WHERE failed_at IS NOT NULL;
ALTER TABLE google_sync_jobs DROP COLUMN failed_at;
CREATE INDEX google_sync_jobs_due ON google_sync_jobs (next_attempt_at);
ALTER TABLE appointments DROP COLUMN version;
DROP INDEX services_org_name_unique;
DELETE FROM services WHERE archived_at IS NOT NULL
    AND EXISTS (SELECT 1 FROM services l WHERE l.org_id = services.org_id AND l.name = services.name AND l.archived_at IS NULL);
ALTER TABLE services DROP COLUMN archived_at;
ALTER TABLE services ADD CONSTRAINT services_org_name_unique UNIQUE (org_id, name);
UPDATE services SET buffer_before_minutes = 0 WHERE buffer_before_minutes IS NULL;
UPDATE services SET buffer_after_minutes = 0 WHERE buffer_after_minutes IS NULL;
ALTER TABLE services
    ALTER COLUMN buffer_before_minutes SET NOT NULL,
    ALTER COLUMN buffer_before_minutes SET DEFAULT 0,
    ALTER COLUMN buffer_after_minutes SET NOT NULL,
    ALTER COLUMN buffer_after_minutes SET DEFAULT 0;
COMMENT ON TABLE google_sync_jobs IS 'system: outbox of Google Calendar writes, claimed across tenants by the sync worker; holds ids only, never read by tenant endpoints';
