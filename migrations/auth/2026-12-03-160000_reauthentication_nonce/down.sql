DELETE FROM email_tokens WHERE purpose = 'reauthentication';
ALTER TABLE email_tokens DROP CONSTRAINT email_tokens_purpose_check;
ALTER TABLE email_tokens ADD CONSTRAINT email_tokens_purpose_check
    CHECK (purpose IN ('recovery', 'verify_email'));
