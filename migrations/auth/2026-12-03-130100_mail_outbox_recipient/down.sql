DROP INDEX mail_outbox_recipient;
