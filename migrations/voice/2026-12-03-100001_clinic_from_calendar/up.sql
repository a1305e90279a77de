-- The clinic's time zone and opening hours belong to calendar (ARCHITECTURE §5): voice asks
-- calendar's internal API on every call and keeps only the last answer here, as the fallback
-- for when calendar cannot be reached (ADR 0014). `timezone` is org.created.v1's value until the
-- first answer. Agents no longer carry opening hours of their own.
ALTER TABLE org_profiles
    ADD COLUMN weekly_hours      jsonb,
    ADD COLUMN date_overrides    jsonb,
    ADD COLUMN clinic_synced_at  timestamptz;
COMMENT ON COLUMN org_profiles.clinic_synced_at IS 'when calendar last answered the clinic lookup (null: never; timezone is then org.created.v1''s)';
UPDATE agents SET settings = settings - 'open_hours' WHERE settings ? 'open_hours';
