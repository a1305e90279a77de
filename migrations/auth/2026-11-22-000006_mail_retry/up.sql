-- The mailer claims a row by pushing its next attempt into the future, then sends outside any
-- transaction (no SMTP call while holding row locks).
ALTER TABLE mail_outbox ADD COLUMN next_attempt_at timestamptz NOT NULL DEFAULT now();
DROP INDEX mail_outbox_unsent;
CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at) WHERE sent_at IS NULL;
