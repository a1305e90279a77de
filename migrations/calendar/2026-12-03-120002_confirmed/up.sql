-- `confirmed`: a booked appointment the patient confirmed by replying C to a text (issue 12,
-- appointment.reply_confirmed.v1). It holds its time like `booked`.
ALTER TABLE appointments DROP CONSTRAINT appointments_status_check;
ALTER TABLE appointments ADD CONSTRAINT appointments_status_check
    CHECK (status IN ('held', 'booked', 'confirmed', 'completed', 'no_show', 'cancelled', 'expired'));
ALTER TABLE appointments DROP CONSTRAINT appointments_no_overlap;
ALTER TABLE appointments ADD CONSTRAINT appointments_no_overlap EXCLUDE USING gist (
    org_id WITH =, tstzrange(block_start, block_end, '[)') WITH &&
) WHERE (status IN ('held', 'booked', 'confirmed', 'completed', 'no_show'));
