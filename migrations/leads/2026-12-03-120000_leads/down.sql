DROP TABLE org_profile;
DROP TABLE lead_notes;
DROP TABLE lead_stage_history;
DROP TABLE lead_scores;
DROP TABLE lead_events;
ALTER TABLE contacts
    DROP COLUMN first_contact_at, DROP COLUMN last_contact_at, DROP COLUMN calls_count,
    DROP COLUMN appointments_booked, DROP COLUMN appointments_kept,
    DROP COLUMN appointments_no_show, DROP COLUMN appointments_cancelled,
    DROP COLUMN messages_count, DROP COLUMN opted_out_at, DROP COLUMN stage,
    DROP COLUMN stage_source, DROP COLUMN stage_changed_at, DROP COLUMN score, DROP COLUMN tier,
    DROP COLUMN next_action, DROP COLUMN model_version, DROP COLUMN scored_at;
