-- HIPAA §164.312(b) audit controls: every read of PHI that voice holds (a call's transcript, its
-- recording URL, a message the agent took) records who read what and when, in the same
-- transaction as the read (ADR 0014). Append-only: the service role may only INSERT and SELECT,
-- and a trigger refuses UPDATE, DELETE and TRUNCATE for every role (a re-run of the bootstrap's
-- blanket grants cannot reopen it). Kept when the org is deleted (retention is an operator task).
CREATE TABLE phi_access_log (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id         uuid NOT NULL,
    actor_user_id  uuid NOT NULL,
    actor_role     text NOT NULL,
    session_id     uuid,
    resource_type  text NOT NULL CHECK (resource_type IN ('call_transcript', 'call_recording', 'call_message')),
    resource_id    uuid NOT NULL,
    -- The call the resource belongs to, when it has one.
    call_id        uuid,
    action         text NOT NULL CHECK (action IN ('read')),
    accessed_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX phi_access_log_org ON phi_access_log (org_id, accessed_at DESC, id DESC);
SELECT tenancy.enable_tenant_rls('phi_access_log');
REVOKE UPDATE, DELETE, TRUNCATE ON phi_access_log FROM svc_voice;
CREATE FUNCTION phi_access_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'phi_access_log is append-only' USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER phi_access_log_no_rewrite BEFORE UPDATE OR DELETE ON phi_access_log
    FOR EACH ROW EXECUTE FUNCTION phi_access_log_append_only();
CREATE TRIGGER phi_access_log_no_truncate BEFORE TRUNCATE ON phi_access_log
    FOR EACH STATEMENT EXECUTE FUNCTION phi_access_log_append_only();
