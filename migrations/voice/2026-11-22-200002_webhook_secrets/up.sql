-- Per-org Vapi webhook secrets, for orgs whose Vapi credential points at
-- /api/webhooks/vapi/{org_id}. Sealed with the key ring (org bound). During a rotation the
-- previous secret stays valid until `previous_valid_until`.
CREATE TABLE webhook_secrets (
    org_id                uuid PRIMARY KEY,
    key_id                text NOT NULL,
    ciphertext            bytea NOT NULL,
    previous_key_id       text,
    previous_ciphertext   bytea,
    previous_valid_until  timestamptz,
    rotated_at            timestamptz NOT NULL DEFAULT now()
);
SELECT tenancy.enable_tenant_rls('webhook_secrets');
