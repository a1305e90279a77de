-- GoTrue's reauthentication nonce (GET /api/auth/reauthenticate, ADR 0018): a short code mailed
-- to the user, accepted once by PUT /api/auth/user {password, nonce} instead of the current
-- password. Kept hashed (with the user id) in email_tokens, one live row per user.
ALTER TABLE email_tokens DROP CONSTRAINT email_tokens_purpose_check;
ALTER TABLE email_tokens ADD CONSTRAINT email_tokens_purpose_check
    CHECK (purpose IN ('recovery', 'verify_email', 'reauthentication'));
