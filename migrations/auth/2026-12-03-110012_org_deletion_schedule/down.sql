DROP INDEX organizations_deletion_due;
ALTER TABLE organizations
    DROP CONSTRAINT organizations_deletion_schedule,
    DROP COLUMN deletion_requested_by,
    DROP COLUMN deletes_at,
    DROP COLUMN deletion_scheduled_at;
