-- The Vapi credential our server configs reference (`server.credentialId`, issue 11 item 12):
-- Vapi authenticates its webhooks to us with it. One row per credential we manage (today only
-- `webhook`); the secret itself is never stored here, only a SHA-256 fingerprint of what we
-- last sent, so a rotated VAPI_WEBHOOK_SECRET is PATCHed in place and an unchanged one costs no
-- call to Vapi.
CREATE TABLE vapi_credentials (
    name                text PRIMARY KEY,
    vapi_credential_id  text NOT NULL,
    fingerprint         text NOT NULL,
    synced_at           timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE vapi_credentials IS 'system: the Vapi account''s webhook credential id by name (one for every org) and a fingerprint of the plan last sent; never read by tenant endpoints';
