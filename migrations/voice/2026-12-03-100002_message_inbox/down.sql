DROP INDEX call_messages_unhandled;
DROP INDEX call_messages_inbox;
CREATE INDEX call_messages_org ON call_messages (org_id, created_at);
ALTER TABLE call_messages
    DROP COLUMN handled_by,
    DROP COLUMN handled_at;
