-- The staff inbox of messages the agent took (`take_message`): a message is unhandled until a
-- staff member marks it handled (who and when are kept).
ALTER TABLE call_messages
    ADD COLUMN handled_at  timestamptz,
    ADD COLUMN handled_by  uuid;
DROP INDEX call_messages_org;
CREATE INDEX call_messages_inbox ON call_messages (org_id, created_at DESC, id DESC);
CREATE INDEX call_messages_unhandled ON call_messages (org_id, created_at DESC, id DESC)
    WHERE handled_at IS NULL;
