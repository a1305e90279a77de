ALTER TABLE org_profiles
    DROP COLUMN clinic_synced_at,
    DROP COLUMN date_overrides,
    DROP COLUMN weekly_hours;
