-- The knowledge base (issue 15, ADR 0020): per org documents (FAQ entries, free text, Markdown;
-- and `system` documents generated from calendar's services and hours), cut into chunks on their
-- structure, searched with Postgres full-text search (the org's language, weighted heading/body,
-- prefix and phrase matching) with typo tolerance from pg_trgm over the org's word list, and
-- optionally by embeddings stored per chunk. pg_trgm lives in the `extensions` schema, created
-- by deploy/postgres/schemas.sql (a superuser step: this migration's owner role cannot).

-- One row per org: the text-search configuration its documents and queries use.
CREATE TABLE knowledge_settings (
    org_id      uuid PRIMARY KEY,
    language    text NOT NULL DEFAULT 'english'
                CHECK (language IN ('simple', 'english', 'spanish', 'french', 'german', 'italian', 'portuguese', 'dutch')),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
SELECT tenancy.enable_tenant_rls('knowledge_settings');

CREATE TABLE knowledge_documents (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id      uuid NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('faq', 'text', 'markdown', 'system')),
    -- Which generated document (`services`, `hours`) a system document is; null otherwise.
    system_key  text CHECK ((kind = 'system') = (system_key IS NOT NULL)),
    title       text NOT NULL CHECK (length(title) BETWEEN 1 AND 300),
    body        text NOT NULL CHECK (length(body) BETWEEN 1 AND 1048576),
    tags        text[] NOT NULL DEFAULT '{}',
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX knowledge_documents_org ON knowledge_documents (org_id, created_at, id);
CREATE UNIQUE INDEX knowledge_documents_system ON knowledge_documents (org_id, system_key)
    WHERE system_key IS NOT NULL;
SELECT tenancy.enable_tenant_rls('knowledge_documents');

-- The searchable pieces of a document. `search` weighs the heading (document title, tags,
-- section headings: A) over the text (B) in the org's language at the time of writing (a
-- language change re-indexes). `embedding` is the configured embeddings model's vector of
-- heading + content, null until computed (or when no model is configured).
CREATE TABLE knowledge_chunks (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id           uuid NOT NULL,
    document_id      uuid NOT NULL REFERENCES knowledge_documents (id) ON DELETE CASCADE,
    position         integer NOT NULL CHECK (position >= 0),
    active           boolean NOT NULL,
    heading          text NOT NULL,
    content          text NOT NULL,
    language         regconfig NOT NULL,
    search           tsvector GENERATED ALWAYS AS (
                         setweight(to_tsvector(language, heading), 'A')
                         || setweight(to_tsvector(language, content), 'B')) STORED,
    embedding        real[],
    embedding_model  text,
    UNIQUE (document_id, position)
);
CREATE INDEX knowledge_chunks_search ON knowledge_chunks USING gin (search);
CREATE INDEX knowledge_chunks_org ON knowledge_chunks (org_id, active);
SELECT tenancy.enable_tenant_rls('knowledge_chunks');

-- The org's vocabulary (lower-case words of its chunks), for typo tolerance: a query word that
-- is not in it is replaced by its most similar word here (pg_trgm trigram similarity).
CREATE TABLE knowledge_words (
    org_id  uuid NOT NULL,
    word    text NOT NULL CHECK (length(word) BETWEEN 1 AND 64),
    PRIMARY KEY (org_id, word)
);
CREATE INDEX knowledge_words_trgm ON knowledge_words USING gin (word extensions.gin_trgm_ops);
SELECT tenancy.enable_tenant_rls('knowledge_words');

-- Who changed the knowledge base (admin changes through the dashboard API), in the transaction
-- of the change. Append-only like the PHI access log: the service role may only INSERT and
-- SELECT, and a trigger refuses UPDATE, DELETE and TRUNCATE.
CREATE TABLE knowledge_changes (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id         uuid NOT NULL,
    actor_user_id  uuid NOT NULL,
    actor_role     text NOT NULL,
    action         text NOT NULL CHECK (action IN ('create', 'update', 'delete', 'settings', 'refresh')),
    document_id    uuid,
    title          text,
    changed_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX knowledge_changes_org ON knowledge_changes (org_id, changed_at DESC, id DESC);
SELECT tenancy.enable_tenant_rls('knowledge_changes');
REVOKE UPDATE, DELETE, TRUNCATE ON knowledge_changes FROM svc_voice;
CREATE FUNCTION knowledge_changes_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'knowledge_changes is append-only' USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER knowledge_changes_no_rewrite BEFORE UPDATE OR DELETE ON knowledge_changes
    FOR EACH ROW EXECUTE FUNCTION knowledge_changes_append_only();
CREATE TRIGGER knowledge_changes_no_truncate BEFORE TRUNCATE ON knowledge_changes
    FOR EACH STATEMENT EXECUTE FUNCTION knowledge_changes_append_only();
