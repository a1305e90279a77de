-- Issue 11 item 7b: signup looks up whether an "account exists" mail went to an address in the last
-- hour (at most one an hour: anyone can trigger it).
CREATE INDEX mail_outbox_recipient ON mail_outbox (to_email, kind, created_at DESC);
