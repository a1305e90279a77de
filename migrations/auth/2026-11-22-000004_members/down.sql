DROP TABLE mail_outbox; DROP TABLE email_tokens; DROP TABLE invitations;
