ALTER TABLE templates DROP COLUMN content_sid;
DROP TABLE appointments;
DROP TABLE opt_out_audit;
DROP TABLE opt_outs;
DROP TABLE send_jobs;
DROP TABLE message_events;
DROP TABLE messages;
DROP TABLE settings;
DROP TABLE twilio_accounts;
