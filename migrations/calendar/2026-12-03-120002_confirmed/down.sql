UPDATE appointments SET status = 'booked' WHERE status = 'confirmed';
ALTER TABLE appointments DROP CONSTRAINT appointments_no_overlap;
ALTER TABLE appointments ADD CONSTRAINT appointments_no_overlap EXCLUDE USING gist (
    org_id WITH =, tstzrange(block_start, block_end, '[)') WITH &&
) WHERE (status IN ('held', 'booked', 'completed', 'no_show'));
ALTER TABLE appointments DROP CONSTRAINT appointments_status_check;
ALTER TABLE appointments ADD CONSTRAINT appointments_status_check
    CHECK (status IN ('held', 'booked', 'completed', 'no_show', 'cancelled', 'expired'));
