-- The event bus tables, applied in every service's schema before the service's own migrations
-- (embedded by crates/bus). Both are system tables: the relay reads the outbox across tenants and
-- the inbox is keyed by event id; no tenant endpoint ever reads either.

CREATE TABLE outbox (
    id               bigserial PRIMARY KEY,
    event_id         uuid NOT NULL UNIQUE,
    org_id           uuid NOT NULL,
    event_type       text NOT NULL,
    payload          jsonb NOT NULL,
    traceparent      text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    published_at     timestamptz,
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text
);
COMMENT ON TABLE outbox IS 'system: transactional outbox, written inside tenant transactions and drained across tenants by the relay; never read by tenant endpoints';
-- The relay claims unsent rows in id order; the lag metric reads the oldest one.
CREATE INDEX outbox_unsent ON outbox (id) WHERE published_at IS NULL;
CREATE INDEX outbox_sent_at ON outbox (published_at) WHERE published_at IS NOT NULL;

-- Wake the relay as soon as a transaction with new events commits (NOTIFY is delivered on commit).
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('outbox_' || TG_TABLE_SCHEMA, '');
  RETURN NULL;
END
$$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

CREATE TABLE inbox (
    consumer      text NOT NULL,
    event_id      uuid NOT NULL,
    org_id        uuid NOT NULL,
    event_type    text NOT NULL,
    processed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
COMMENT ON TABLE inbox IS 'system: consumer de-duplication by event id, written in the handler''s transaction; never read by tenant endpoints';
CREATE INDEX inbox_processed_at ON inbox (processed_at);
