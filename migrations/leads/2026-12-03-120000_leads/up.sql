-- Lead scoring (issue 13): contacts become a projection of the events heard about each caller,
-- with the current score, tier, next action and pipeline stage; the events themselves, the
-- score history, the stage history and staff notes sit beside them. Every table is a tenant
-- table (RLS forced).

ALTER TABLE contacts
    ADD COLUMN first_contact_at       timestamptz,
    ADD COLUMN last_contact_at        timestamptz,
    ADD COLUMN calls_count            integer NOT NULL DEFAULT 0,
    ADD COLUMN appointments_booked    integer NOT NULL DEFAULT 0,
    ADD COLUMN appointments_kept      integer NOT NULL DEFAULT 0,
    ADD COLUMN appointments_no_show   integer NOT NULL DEFAULT 0,
    ADD COLUMN appointments_cancelled integer NOT NULL DEFAULT 0,
    ADD COLUMN messages_count         integer NOT NULL DEFAULT 0,
    ADD COLUMN opted_out_at           timestamptz,
    ADD COLUMN stage                  text NOT NULL DEFAULT 'new'
        CHECK (stage IN ('new', 'contacted', 'qualified', 'booked', 'won', 'lost')),
    -- 'automatic' (derived from events) or 'manual' (set through the API; ADR 0017).
    ADD COLUMN stage_source           text NOT NULL DEFAULT 'automatic'
        CHECK (stage_source IN ('automatic', 'manual')),
    ADD COLUMN stage_changed_at       timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN score                  smallint CHECK (score BETWEEN 0 AND 100),
    ADD COLUMN tier                   text CHECK (tier IN ('hot', 'warm', 'cold')),
    ADD COLUMN next_action            text,
    ADD COLUMN model_version          text,
    ADD COLUMN scored_at              timestamptz;

CREATE INDEX contacts_by_score ON contacts (org_id, score DESC NULLS LAST, id);
CREATE INDEX contacts_by_last_contact ON contacts (org_id, last_contact_at DESC NULLS LAST, id);

-- Every event that concerns a contact, as received (its payload). The contact's state is a fold
-- of this set, so duplicates and out-of-order deliveries give the same result.
CREATE TABLE lead_events (
    org_id      uuid NOT NULL,
    event_id    uuid NOT NULL,
    contact_id  uuid NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    event_type  text NOT NULL,
    occurred_at timestamptz NOT NULL,
    payload     jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, event_id)
);
CREATE INDEX lead_events_by_contact ON lead_events (org_id, contact_id, occurred_at);
SELECT tenancy.enable_tenant_rls('lead_events');

-- Every score a contact was given, with the feature vector and model version that produced it
-- (re-scoring the features with the same model gives the same score).
CREATE TABLE lead_scores (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id        uuid NOT NULL,
    contact_id    uuid NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    score         smallint NOT NULL CHECK (score BETWEEN 0 AND 100),
    tier          text NOT NULL CHECK (tier IN ('hot', 'warm', 'cold')),
    next_action   text NOT NULL,
    model_version text NOT NULL,
    features      jsonb NOT NULL,
    reasons       jsonb NOT NULL,
    -- what caused it: an event type, or `rescore`
    cause         text NOT NULL,
    -- clock_timestamp: several scores of one contact may be written in one transaction (a
    -- consumer batch), and the newest must sort last.
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX lead_scores_by_contact ON lead_scores (org_id, contact_id, created_at DESC, id);
SELECT tenancy.enable_tenant_rls('lead_scores');

-- Who or what moved a contact through the pipeline, and why.
CREATE TABLE lead_stage_history (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id      uuid NOT NULL,
    contact_id  uuid NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    from_stage  text,
    to_stage    text NOT NULL,
    source      text NOT NULL CHECK (source IN ('automatic', 'manual')),
    -- a user id (manual) or the event type that caused the move (automatic)
    actor       text NOT NULL,
    reason      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX lead_stage_history_by_contact ON lead_stage_history (org_id, contact_id, created_at, id);
SELECT tenancy.enable_tenant_rls('lead_stage_history');

CREATE TABLE lead_notes (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id      uuid NOT NULL,
    contact_id  uuid NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    author_id   uuid NOT NULL,
    body        text NOT NULL CHECK (length(body) BETWEEN 1 AND 4000),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX lead_notes_by_contact ON lead_notes (org_id, contact_id, created_at DESC, id);
SELECT tenancy.enable_tenant_rls('lead_notes');

-- The clinic's time zone as last seen on an appointment event (calendar owns it and puts it on
-- every appointment.*.v1): used only to tell whether a call came after hours.
CREATE TABLE org_profile (
    org_id      uuid PRIMARY KEY,
    timezone    text NOT NULL,
    seen_at     timestamptz NOT NULL
);
SELECT tenancy.enable_tenant_rls('org_profile');
