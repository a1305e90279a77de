-- The optional intent classifier (issue 13): calls waiting to be classified, and what the
-- classifier said about each call (or why it said nothing).

CREATE TABLE classify_queue (
    id          bigserial PRIMARY KEY,
    org_id      uuid NOT NULL,
    call_id     uuid NOT NULL,
    attempts    integer NOT NULL DEFAULT 0,
    next_at     timestamptz NOT NULL DEFAULT now(),
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT classify_queue_call_unique UNIQUE (org_id, call_id)
);
COMMENT ON TABLE classify_queue IS 'system: ids of calls waiting for the intent classifier, claimed across tenants by the worker (SKIP LOCKED); no personal data, never read by tenant endpoints';

CREATE TABLE call_intents (
    org_id      uuid NOT NULL,
    call_id     uuid NOT NULL,
    -- null when the classifier gave no usable answer
    intent      text,
    -- ok, timeout, bad_answer or unavailable
    outcome     text NOT NULL CHECK (outcome IN ('ok', 'timeout', 'bad_answer', 'unavailable')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, call_id)
);
SELECT tenancy.enable_tenant_rls('call_intents');
