DROP INDEX mail_outbox_due; ALTER TABLE mail_outbox DROP COLUMN next_attempt_at; CREATE INDEX mail_outbox_unsent ON mail_outbox (created_at) WHERE sent_at IS NULL;
