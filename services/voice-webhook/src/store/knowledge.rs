//! The knowledge base's tables (tenant tables, ADR 0020): org settings (text-search language),
//! documents, their chunks (full-text vector, optional embedding), the org's vocabulary for
//! typo correction, and the append-only change log. Chunks and words are written and searched
//! with SQL text: the tsvector/regconfig columns and the trigram operators have no DSL here.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{
    Array, BigInt, Bool, Double, Float4, Integer, Nullable, Text, Uuid as SqlUuid,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tenancy::OrgId;
use uuid::Uuid;

use super::schema::{knowledge_changes, knowledge_documents as docs, knowledge_settings};
use crate::domain::knowledge::Chunk;

/// The org's text-search configuration (`english` until an admin sets another).
pub async fn find_language(conn: &mut AsyncPgConnection, org: OrgId) -> QueryResult<String> {
    Ok(knowledge_settings::table
        .filter(knowledge_settings::org_id.eq(org.as_uuid()))
        .select(knowledge_settings::language)
        .first::<String>(conn)
        .await
        .optional()?
        .unwrap_or_else(|| "english".into()))
}

/// Sets the org's language and re-indexes its chunks in it (the generated vectors recompute).
pub async fn set_language(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    language: &str,
) -> QueryResult<()> {
    diesel::insert_into(knowledge_settings::table)
        .values((
            knowledge_settings::org_id.eq(org.as_uuid()),
            knowledge_settings::language.eq(language),
        ))
        .on_conflict(knowledge_settings::org_id)
        .do_update()
        .set((
            knowledge_settings::language.eq(language),
            knowledge_settings::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    diesel::sql_query(
        "UPDATE knowledge_chunks SET language = $2::regconfig WHERE org_id = $1 AND language <> $2::regconfig",
    )
    .bind::<SqlUuid, _>(org.as_uuid())
    .bind::<Text, _>(language)
    .execute(conn)
    .await
    .map(|_| ())
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = docs)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct DocumentRow {
    pub id: Uuid,
    pub kind: String,
    pub system_key: Option<String>,
    pub title: String,
    pub body: String,
    pub tags: Vec<Option<String>>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl DocumentRow {
    pub fn tags(&self) -> Vec<String> {
        self.tags.iter().flatten().cloned().collect()
    }
}

/// A document's fields, validated.
#[derive(Debug, Clone)]
pub struct DocumentFields {
    pub kind: &'static str,
    pub system_key: Option<&'static str>,
    pub title: String,
    pub body: String,
    pub tags: Vec<String>,
    pub active: bool,
}

pub async fn insert_document(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    f: &DocumentFields,
) -> QueryResult<DocumentRow> {
    let tags: Vec<Option<String>> = f.tags.iter().cloned().map(Some).collect();
    diesel::insert_into(docs::table)
        .values((
            docs::org_id.eq(org.as_uuid()),
            docs::kind.eq(f.kind),
            docs::system_key.eq(f.system_key),
            docs::title.eq(&f.title),
            docs::body.eq(&f.body),
            docs::tags.eq(tags),
            docs::active.eq(f.active),
        ))
        .returning(DocumentRow::as_returning())
        .get_result(conn)
        .await
}

/// Replaces a document's fields; `None` when the org has no such document.
pub async fn update_document(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    id: Uuid,
    f: &DocumentFields,
) -> QueryResult<Option<DocumentRow>> {
    let tags: Vec<Option<String>> = f.tags.iter().cloned().map(Some).collect();
    diesel::update(
        docs::table
            .filter(docs::org_id.eq(org.as_uuid()))
            .filter(docs::id.eq(id)),
    )
    .set((
        docs::kind.eq(f.kind),
        docs::title.eq(&f.title),
        docs::body.eq(&f.body),
        docs::tags.eq(tags),
        docs::active.eq(f.active),
        docs::updated_at.eq(diesel::dsl::now),
    ))
    .returning(DocumentRow::as_returning())
    .get_result(conn)
    .await
    .optional()
}

pub async fn find_document(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    id: Uuid,
) -> QueryResult<Option<DocumentRow>> {
    docs::table
        .filter(docs::org_id.eq(org.as_uuid()))
        .filter(docs::id.eq(id))
        .select(DocumentRow::as_select())
        .first(conn)
        .await
        .optional()
}

pub async fn find_system(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    key: &str,
) -> QueryResult<Option<DocumentRow>> {
    docs::table
        .filter(docs::org_id.eq(org.as_uuid()))
        .filter(docs::system_key.eq(key))
        .select(DocumentRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// Filters of the document list.
#[derive(Debug, Clone, Default)]
pub struct DocumentFilter {
    pub kind: Option<String>,
    pub active: Option<bool>,
    pub tag: Option<String>,
}

/// The org's documents, oldest first, after the keyset position `after`.
pub async fn list_documents(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    f: &DocumentFilter,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> QueryResult<Vec<DocumentRow>> {
    let mut q = docs::table
        .filter(docs::org_id.eq(org.as_uuid()))
        .select(DocumentRow::as_select())
        .order((docs::created_at.asc(), docs::id.asc()))
        .limit(limit)
        .into_boxed();
    if let Some(k) = &f.kind {
        q = q.filter(docs::kind.eq(k.clone()));
    }
    if let Some(a) = f.active {
        q = q.filter(docs::active.eq(a));
    }
    if let Some(t) = &f.tag {
        q = q.filter(docs::tags.contains(vec![Some(t.clone())]));
    }
    if let Some((at, id)) = after {
        q = q.filter(
            docs::created_at
                .gt(at)
                .or(docs::created_at.eq(at).and(docs::id.gt(id))),
        );
    }
    q.load(conn).await
}

/// How many documents the org wrote (system documents do not count against its limit).
pub async fn count_own_documents(conn: &mut AsyncPgConnection, org: OrgId) -> QueryResult<i64> {
    docs::table
        .filter(docs::org_id.eq(org.as_uuid()))
        .filter(docs::system_key.is_null())
        .count()
        .get_result(conn)
        .await
}

pub async fn delete_document(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    id: Uuid,
) -> QueryResult<bool> {
    diesel::delete(
        docs::table
            .filter(docs::org_id.eq(org.as_uuid()))
            .filter(docs::id.eq(id)),
    )
    .execute(conn)
    .await
    .map(|n| n > 0)
}

/// Replaces a document's chunks (and adds their words to the org's vocabulary).
pub async fn replace_chunks(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    document: Uuid,
    active: bool,
    language: &str,
    chunks: &[Chunk],
    words: &[String],
) -> QueryResult<()> {
    diesel::sql_query("DELETE FROM knowledge_chunks WHERE org_id = $1 AND document_id = $2")
        .bind::<SqlUuid, _>(org.as_uuid())
        .bind::<SqlUuid, _>(document)
        .execute(conn)
        .await?;
    let positions: Vec<i32> = (0..chunks.len())
        .map(|i| i32::try_from(i).unwrap_or(i32::MAX))
        .collect();
    let headings: Vec<&str> = chunks.iter().map(|c| c.heading.as_str()).collect();
    let contents: Vec<&str> = chunks.iter().map(|c| c.content.as_str()).collect();
    diesel::sql_query(
        "INSERT INTO knowledge_chunks (org_id, document_id, position, active, heading, content, language)
         SELECT $1, $2, p, $3, h, c, $4::regconfig
           FROM unnest($5::int4[], $6::text[], $7::text[]) AS t(p, h, c)",
    )
    .bind::<SqlUuid, _>(org.as_uuid())
    .bind::<SqlUuid, _>(document)
    .bind::<Bool, _>(active)
    .bind::<Text, _>(language)
    .bind::<Array<Integer>, _>(positions)
    .bind::<Array<Text>, _>(headings)
    .bind::<Array<Text>, _>(contents)
    .execute(conn)
    .await?;
    if !words.is_empty() {
        diesel::sql_query(
            "INSERT INTO knowledge_words (org_id, word) SELECT $1, w FROM unnest($2::text[]) AS t(w)
             ON CONFLICT DO NOTHING",
        )
        .bind::<SqlUuid, _>(org.as_uuid())
        .bind::<Array<Text>, _>(words)
        .execute(conn)
        .await?;
    }
    Ok(())
}

/// One search hit: a chunk and its document.
#[derive(Debug, Clone, QueryableByName)]
pub struct Hit {
    #[diesel(sql_type = SqlUuid)]
    pub chunk_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub document_id: Uuid,
    #[diesel(sql_type = Text)]
    pub title: String,
    #[diesel(sql_type = Text)]
    pub heading: String,
    #[diesel(sql_type = Text)]
    pub content: String,
    #[diesel(sql_type = Double)]
    pub score: f64,
}

/// Full-text search of the org's active chunks for `terms` (words only, `domain::knowledge::
/// query_terms`): each term is first replaced by its closest word of the org's vocabulary when
/// it is not one of them (pg_trgm similarity ≥ 0.4: typos), then the terms are OR-ed as prefix
/// matches in the org's language, ranked with the heading weighted over the content, plus a
/// bonus for adjacent query terms found as a phrase. `phrase` (a quoted phrase of the query,
/// terms joined by spaces), when given, must match as a phrase.
pub async fn search(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    terms: &[String],
    phrase: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<Hit>> {
    if terms.is_empty() {
        return Ok(Vec::new());
    }
    diesel::sql_query(SEARCH_SQL)
        .bind::<SqlUuid, _>(org.as_uuid())
        .bind::<Array<Text>, _>(terms)
        .bind::<Nullable<Text>, _>(phrase)
        .bind::<BigInt, _>(limit)
        .load(conn)
        .await
}

const SEARCH_SQL: &str = r#"
WITH cfg AS (
    SELECT coalesce((SELECT language FROM knowledge_settings WHERE org_id = $1), 'english')::regconfig AS c
),
terms AS (
    SELECT t.i, coalesce(
        (SELECT k.word FROM knowledge_words k WHERE k.org_id = $1 AND k.word = t.w),
        (SELECT k.word FROM knowledge_words k
          WHERE k.org_id = $1 AND char_length(t.w) >= 4 AND t.w !~ '^[0-9]+$'
            AND k.word OPERATOR(extensions.%) t.w
            AND extensions.similarity(k.word, t.w) >= 0.4
          ORDER BY extensions.similarity(k.word, t.w) DESC, k.word LIMIT 1),
        t.w) AS w
      FROM unnest($2::text[]) WITH ORDINALITY AS t(w, i)
),
q AS (
    SELECT
        to_tsquery((SELECT c FROM cfg), coalesce(string_agg(
            quote_literal(w) || CASE WHEN char_length(w) >= 3 THEN ':*' ELSE '' END, ' | ' ORDER BY i), '')) AS any_q,
        to_tsquery((SELECT c FROM cfg), coalesce((
            SELECT string_agg('(' || quote_literal(a.w) || ' <-> ' || quote_literal(b.w) || ')', ' | ')
              FROM terms a JOIN terms b ON b.i = a.i + 1), '')) AS pairs_q,
        CASE WHEN $3::text IS NULL THEN NULL ELSE phraseto_tsquery((SELECT c FROM cfg), $3::text) END AS phrase_q
      FROM terms
)
SELECT c.id AS chunk_id, c.document_id, d.title, c.heading, c.content,
       (ts_rank('{0.1, 0.2, 0.4, 1.0}', c.search, q.any_q, 1)
        + CASE WHEN numnode(q.pairs_q) > 0 THEN ts_rank('{0.1, 0.2, 0.4, 1.0}', c.search, q.pairs_q, 1) ELSE 0 END
       )::float8 AS score
  FROM knowledge_chunks c
  JOIN knowledge_documents d ON d.id = c.document_id AND d.org_id = c.org_id, q
 WHERE c.org_id = $1 AND c.active AND numnode(q.any_q) > 0 AND c.search @@ q.any_q
   AND (q.phrase_q IS NULL OR numnode(q.phrase_q) = 0 OR c.search @@ q.phrase_q)
 ORDER BY score DESC, c.id
 LIMIT $4
"#;

/// Chunks by id (active ones of the org), as hits with score 0.
pub async fn chunks_by_id(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    ids: &[Uuid],
) -> QueryResult<Vec<Hit>> {
    diesel::sql_query(
        "SELECT c.id AS chunk_id, c.document_id, d.title, c.heading, c.content, 0::float8 AS score
           FROM knowledge_chunks c JOIN knowledge_documents d ON d.id = c.document_id AND d.org_id = c.org_id
          WHERE c.org_id = $1 AND c.active AND c.id = ANY($2::uuid[])",
    )
    .bind::<SqlUuid, _>(org.as_uuid())
    .bind::<Array<SqlUuid>, _>(ids)
    .load(conn)
    .await
}

#[derive(Debug, Clone, QueryableByName)]
pub struct ChunkText {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = Text)]
    pub heading: String,
    #[diesel(sql_type = Text)]
    pub content: String,
}

/// The org's chunks without an embedding of `model` (of one document, or all), at most `limit`.
pub async fn chunks_to_embed(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    document: Option<Uuid>,
    model: &str,
    limit: i64,
) -> QueryResult<Vec<ChunkText>> {
    diesel::sql_query(
        "SELECT id, heading, content FROM knowledge_chunks
          WHERE org_id = $1 AND ($2::uuid IS NULL OR document_id = $2)
            AND (embedding IS NULL OR embedding_model IS DISTINCT FROM $3)
          ORDER BY document_id, position LIMIT $4",
    )
    .bind::<SqlUuid, _>(org.as_uuid())
    .bind::<Nullable<SqlUuid>, _>(document)
    .bind::<Text, _>(model)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await
}

/// Stores embeddings of `model` for chunks (ids and vectors in the same order).
pub async fn set_embeddings(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    model: &str,
    ids: &[Uuid],
    vectors: &[Vec<f32>],
) -> QueryResult<()> {
    for (id, v) in ids.iter().zip(vectors) {
        diesel::sql_query(
            "UPDATE knowledge_chunks SET embedding = $3, embedding_model = $4 WHERE org_id = $1 AND id = $2",
        )
        .bind::<SqlUuid, _>(org.as_uuid())
        .bind::<SqlUuid, _>(*id)
        .bind::<Array<Float4>, _>(v)
        .bind::<Text, _>(model)
        .execute(conn)
        .await?;
    }
    Ok(())
}

#[derive(Debug, Clone, QueryableByName)]
pub struct Embedded {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = Array<Float4>)]
    pub embedding: Vec<f32>,
}

/// The embeddings of `model` of the org's active chunks.
pub async fn embeddings(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    model: &str,
) -> QueryResult<Vec<Embedded>> {
    diesel::sql_query(
        "SELECT id, embedding FROM knowledge_chunks
          WHERE org_id = $1 AND active AND embedding IS NOT NULL AND embedding_model = $2",
    )
    .bind::<SqlUuid, _>(org.as_uuid())
    .bind::<Text, _>(model)
    .load(conn)
    .await
}

/// One entry of the change log.
pub struct NewChange<'a> {
    pub actor_user_id: Uuid,
    pub actor_role: &'a str,
    pub action: &'static str,
    pub document_id: Option<Uuid>,
    pub title: Option<&'a str>,
}

pub async fn insert_change(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    c: &NewChange<'_>,
) -> QueryResult<()> {
    diesel::insert_into(knowledge_changes::table)
        .values((
            knowledge_changes::org_id.eq(org.as_uuid()),
            knowledge_changes::actor_user_id.eq(c.actor_user_id),
            knowledge_changes::actor_role.eq(c.actor_role),
            knowledge_changes::action.eq(c.action),
            knowledge_changes::document_id.eq(c.document_id),
            knowledge_changes::title.eq(c.title),
        ))
        .execute(conn)
        .await
        .map(|_| ())
}

/// Deletes the org's knowledge base (org.deleted.v1); the change log is kept.
pub async fn purge_org(conn: &mut AsyncPgConnection, org: OrgId) -> QueryResult<()> {
    for sql in [
        "DELETE FROM knowledge_chunks WHERE org_id = $1",
        "DELETE FROM knowledge_words WHERE org_id = $1",
        "DELETE FROM knowledge_documents WHERE org_id = $1",
        "DELETE FROM knowledge_settings WHERE org_id = $1",
    ] {
        diesel::sql_query(sql)
            .bind::<SqlUuid, _>(org.as_uuid())
            .execute(conn)
            .await?;
    }
    Ok(())
}
