-- Back to one grid per org. Fails (23P01) when two providers hold overlapping appointments:
-- cancel or move one of them first.
DROP INDEX appointments_org_provider_start;
ALTER TABLE appointments DROP CONSTRAINT appointments_no_overlap;
ALTER TABLE appointments ADD CONSTRAINT appointments_no_overlap EXCLUDE USING gist (
    org_id WITH =, tstzrange(block_start, block_end, '[)') WITH &&
) WHERE (status IN ('held', 'booked', 'confirmed', 'completed', 'no_show'));
ALTER TABLE appointments DROP COLUMN provider_name;
ALTER TABLE appointments DROP COLUMN provider_id;
DROP TABLE providers;
