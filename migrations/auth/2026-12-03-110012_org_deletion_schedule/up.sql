-- Deleting an org is scheduled (ADR 0011): `DELETE /api/orgs/{id}` sets `deletes_at` (now +
-- AUTH_ORG_DELETION_GRACE_SECS, 72 h by default); an owner may cancel until then; the deletion
-- worker executes due rows (`FOR UPDATE SKIP LOCKED`) and only then emits `org.deleted.v1`.
ALTER TABLE organizations
    ADD COLUMN deletion_scheduled_at timestamptz,
    ADD COLUMN deletes_at timestamptz,
    ADD COLUMN deletion_requested_by uuid,
    ADD CONSTRAINT organizations_deletion_schedule
        CHECK ((deletion_scheduled_at IS NULL) = (deletes_at IS NULL));
CREATE INDEX organizations_deletion_due ON organizations (deletes_at)
    WHERE deletes_at IS NOT NULL AND deleted_at IS NULL;
