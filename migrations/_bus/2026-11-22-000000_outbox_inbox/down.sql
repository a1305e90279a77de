DROP TABLE inbox; DROP TRIGGER outbox_notify ON outbox; DROP FUNCTION outbox_notify(); DROP TABLE outbox;
