//! The org's knowledge base (ADR 0020): validated create/replace/delete of documents (chunked
//! and indexed in the same transaction, every admin change in the append-only change log), list
//! and get, the org's search language, the system documents written from calendar's services
//! and hours (refreshed at read when older than `VOICE_KB_SYSTEM_TTL_SECS`, or on demand), and
//! retrieval: full-text search, fused with embeddings by reciprocal rank when configured.

use std::collections::{BTreeSet, HashSet};
use std::time::{Duration, Instant};

use diesel_async::RunQueryDsl as _;
use servicekit::page::PageRequest;
use tenancy::OrgId;
use uuid::Uuid;

use crate::clients::calendar::CalendarError;
use crate::core::access_log::Reader;
use crate::domain::fields::{self, InvalidField};
use crate::domain::knowledge::{self, DocKind, LANGUAGES};
use crate::state::VoiceState;
use crate::store::error::StoreError;
use crate::store::knowledge::{self as store, DocumentFields, DocumentFilter, DocumentRow, Hit};

#[derive(Debug, thiserror::Error)]
pub enum KnowledgeError {
    #[error(transparent)]
    Invalid(#[from] InvalidField),
    #[error("{detail}")]
    InvalidQuery { field: &'static str, detail: String },
    #[error("document not found")]
    NotFound,
    /// System documents are written from calendar; they cannot be edited or deleted.
    #[error("system documents are generated from calendar")]
    SystemDocument,
    /// The org has `VOICE_KB_DOCS_PER_ORG` documents already.
    #[error("the knowledge base holds {0} documents, its limit")]
    LimitReached(i64),
    /// Calendar could not be asked for the facts of the system documents.
    #[error(transparent)]
    Calendar(#[from] CalendarError),
    #[error(transparent)]
    Store(StoreError),
}

crate::store::error::store_error_from!(KnowledgeError);

/// A document as the dashboard sends it, before validation.
#[derive(Debug, Clone, Default)]
pub struct DocumentInput {
    pub kind: Option<String>,
    pub title: String,
    pub body: String,
    pub tags: Option<Vec<String>>,
    pub active: Option<bool>,
}

/// A document and how many chunks it was cut into.
#[derive(Debug, Clone)]
pub struct Document {
    pub row: DocumentRow,
    pub chunks: usize,
}

const MAX_TAGS: usize = 20;
const MAX_TAG_CHARS: usize = 40;

/// The document's fields, or the first field that breaks its rule.
pub fn validate(input: DocumentInput, max_bytes: usize) -> Result<DocumentFields, InvalidField> {
    let kind = match input.kind.as_deref().unwrap_or("text") {
        "system" => {
            return Err(InvalidField::new(
                "kind",
                "system documents are generated from calendar's services and hours",
            ));
        }
        k => DocKind::parse(k).ok_or_else(|| {
            InvalidField::new(
                "kind",
                format!("kind must be one of {}", DocKind::EDITABLE.join(", ")),
            )
        })?,
    };
    let no_nul = |field: &'static str, v: &str| {
        if v.contains('\0') {
            Err(InvalidField::new(
                field,
                format!("{field} must not contain NUL characters"),
            ))
        } else {
            Ok(())
        }
    };
    no_nul("title", &input.title)?;
    no_nul("body", &input.body)?;
    let title = fields::text("title", Some(input.title), 300, true)?;
    let body = input.body.trim().to_string();
    if body.is_empty() {
        return Err(InvalidField::new("body", "body is required"));
    }
    if body.len() > max_bytes {
        return Err(InvalidField::new(
            "body",
            format!("body must be at most {max_bytes} bytes (UTF-8)"),
        ));
    }
    let mut tags = Vec::new();
    for t in input.tags.unwrap_or_default() {
        no_nul("tags", &t)?;
        let t = t.trim().to_lowercase();
        if t.is_empty() || t.chars().count() > MAX_TAG_CHARS {
            return Err(InvalidField::new(
                "tags",
                format!("each tag must be 1 to {MAX_TAG_CHARS} characters"),
            ));
        }
        if !tags.contains(&t) {
            tags.push(t);
        }
    }
    if tags.len() > MAX_TAGS {
        return Err(InvalidField::new(
            "tags",
            format!("at most {MAX_TAGS} tags"),
        ));
    }
    Ok(DocumentFields {
        kind: kind.as_str(),
        system_key: None,
        title,
        body,
        tags,
        active: input.active.unwrap_or(true),
    })
}

/// Chunks and vocabulary of a document's fields.
fn index_of(f: &DocumentFields) -> (Vec<knowledge::Chunk>, Vec<String>) {
    let kind = DocKind::parse(f.kind).unwrap_or(DocKind::Text);
    let chunks = knowledge::chunk(kind, &f.title, &f.tags, &f.body);
    let mut words: BTreeSet<String> = knowledge::vocabulary(&f.title);
    words.extend(knowledge::vocabulary(&f.body));
    for t in &f.tags {
        words.extend(knowledge::vocabulary(t));
    }
    (chunks, words.into_iter().collect())
}

fn change<'a>(
    who: &'a Reader,
    action: &'static str,
    document_id: Option<Uuid>,
    title: Option<&'a str>,
) -> store::NewChange<'a> {
    store::NewChange {
        actor_user_id: who.user_id,
        actor_role: who.role.as_str(),
        action,
        document_id,
        title,
    }
}

pub async fn create(
    st: &VoiceState,
    who: Reader,
    input: DocumentInput,
) -> Result<Document, KnowledgeError> {
    let f = validate(input, st.settings.kb_doc_max_bytes)?;
    let (chunks, words) = index_of(&f);
    let limit = st.settings.kb_docs_per_org;
    let org = who.org;
    let n = chunks.len();
    let row = st
        .db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                // Serialises creates of one org, so two at once cannot both pass the limit.
                diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended($1, 20))")
                    .bind::<diesel::sql_types::Text, _>(org.to_string())
                    .execute(tx)
                    .await?;
                let have = store::count_own_documents(tx, org).await?;
                if have >= limit {
                    return Err(KnowledgeError::LimitReached(limit));
                }
                let language = store::find_language(tx, org).await?;
                let row = store::insert_document(tx, org, &f).await?;
                store::replace_chunks(tx, org, row.id, row.active, &language, &chunks, &words)
                    .await?;
                store::insert_change(
                    tx,
                    org,
                    &change(&who, "create", Some(row.id), Some(&row.title)),
                )
                .await?;
                Ok::<_, KnowledgeError>(row)
            })
        })
        .await?;
    embed_document(st, org, row.id).await;
    Ok(Document { row, chunks: n })
}

/// Replaces a user document's fields (a system document is refused).
pub async fn update(
    st: &VoiceState,
    who: Reader,
    id: Uuid,
    input: DocumentInput,
) -> Result<Document, KnowledgeError> {
    let f = validate(input, st.settings.kb_doc_max_bytes)?;
    let (chunks, words) = index_of(&f);
    let org = who.org;
    let n = chunks.len();
    let row = st
        .db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                let found = store::find_document(tx, org, id)
                    .await?
                    .ok_or(KnowledgeError::NotFound)?;
                if found.system_key.is_some() {
                    return Err(KnowledgeError::SystemDocument);
                }
                let language = store::find_language(tx, org).await?;
                let row = store::update_document(tx, org, id, &f)
                    .await?
                    .ok_or(KnowledgeError::NotFound)?;
                store::replace_chunks(tx, org, row.id, row.active, &language, &chunks, &words)
                    .await?;
                store::insert_change(
                    tx,
                    org,
                    &change(&who, "update", Some(row.id), Some(&row.title)),
                )
                .await?;
                Ok::<_, KnowledgeError>(row)
            })
        })
        .await?;
    embed_document(st, org, row.id).await;
    Ok(Document { row, chunks: n })
}

pub async fn delete(st: &VoiceState, who: Reader, id: Uuid) -> Result<(), KnowledgeError> {
    let org = who.org;
    st.db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                let found = store::find_document(tx, org, id)
                    .await?
                    .ok_or(KnowledgeError::NotFound)?;
                if found.system_key.is_some() {
                    return Err(KnowledgeError::SystemDocument);
                }
                store::delete_document(tx, org, id).await?;
                store::insert_change(
                    tx,
                    org,
                    &change(&who, "delete", Some(id), Some(&found.title)),
                )
                .await?;
                Ok::<_, KnowledgeError>(())
            })
        })
        .await
}

pub async fn get(st: &VoiceState, org: OrgId, id: Uuid) -> Result<DocumentRow, KnowledgeError> {
    st.db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                store::find_document(tx, org, id)
                    .await
                    .map_err(KnowledgeError::from)
            })
        })
        .await?
        .ok_or(KnowledgeError::NotFound)
}

/// One page of the org's documents, oldest first.
pub async fn list(
    st: &VoiceState,
    org: OrgId,
    filter: DocumentFilter,
    page: PageRequest,
) -> Result<Vec<DocumentRow>, KnowledgeError> {
    if let Some(k) = &filter.kind
        && DocKind::parse(k).is_none()
    {
        return Err(KnowledgeError::InvalidQuery {
            field: "kind",
            detail: "kind must be one of faq, text, markdown, system".into(),
        });
    }
    st.db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                store::list_documents(tx, org, &filter, page.after, page.fetch_limit())
                    .await
                    .map_err(KnowledgeError::from)
            })
        })
        .await
}

pub async fn language(st: &VoiceState, org: OrgId) -> Result<String, KnowledgeError> {
    st.db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                store::find_language(tx, org)
                    .await
                    .map_err(KnowledgeError::from)
            })
        })
        .await
}

/// Sets the org's search language and re-indexes its documents in it.
pub async fn set_language(
    st: &VoiceState,
    who: Reader,
    language: String,
) -> Result<String, KnowledgeError> {
    let language = language.trim().to_lowercase();
    if !LANGUAGES.contains(&language.as_str()) {
        return Err(InvalidField::new(
            "language",
            format!("language must be one of {}", LANGUAGES.join(", ")),
        )
        .into());
    }
    let org = who.org;
    let l = language.clone();
    st.db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                store::set_language(tx, org, &l).await?;
                store::insert_change(tx, org, &change(&who, "settings", None, Some(&l))).await?;
                Ok::<_, KnowledgeError>(())
            })
        })
        .await?;
    Ok(language)
}

/// The system documents: key, title, tags.
const SYSTEM_DOCS: [(&str, &str, &str); 2] = [
    ("services", "Services and prices", "services"),
    ("hours", "Opening hours and closed days", "hours"),
];

/// Writes the system documents from calendar's services and hours now; returns how many
/// changed. `who` is recorded in the change log when an admin asked.
pub async fn refresh_system(
    st: &VoiceState,
    org: OrgId,
    who: Option<Reader>,
) -> Result<usize, KnowledgeError> {
    if let Ok(mut m) = st.kb_refreshed.lock() {
        m.insert(org, Instant::now());
    }
    let (catalog, clinic) = tokio::try_join!(st.calendar.catalog(org), st.calendar.clinic(org))?;
    let facts: Vec<knowledge::ServiceFact> = catalog
        .items
        .into_iter()
        .map(|s| knowledge::ServiceFact {
            name: s.name,
            description: s.description,
            duration_minutes: s.duration_minutes,
            price_cents: s.price_cents,
            currency: s.currency,
        })
        .collect();
    let bodies = [
        knowledge::services_document(&facts),
        knowledge::hours_document(&clinic.timezone, &clinic.hours),
    ];
    let mut wanted = Vec::new();
    for ((key, title, tag), body) in SYSTEM_DOCS.into_iter().zip(bodies) {
        let f = DocumentFields {
            kind: DocKind::System.as_str(),
            system_key: Some(key),
            title: title.into(),
            body,
            tags: vec![tag.into()],
            active: true,
        };
        let (chunks, words) = index_of(&f);
        wanted.push((f, chunks, words));
    }
    let changed: Vec<Uuid> = st
        .db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                let language = store::find_language(tx, org).await?;
                let mut changed = Vec::new();
                for (f, chunks, words) in &wanted {
                    let key = f.system_key.unwrap_or_default();
                    let row = match store::find_system(tx, org, key).await? {
                        Some(old) if old.body == f.body => continue,
                        Some(old) => store::update_document(tx, org, old.id, f)
                            .await?
                            .ok_or(KnowledgeError::NotFound)?,
                        None => store::insert_document(tx, org, f).await?,
                    };
                    store::replace_chunks(tx, org, row.id, true, &language, chunks, words).await?;
                    changed.push(row.id);
                }
                if let Some(who) = &who {
                    store::insert_change(tx, org, &change(who, "refresh", None, None)).await?;
                }
                Ok::<_, KnowledgeError>(changed)
            })
        })
        .await?;
    for id in &changed {
        embed_document(st, org, *id).await;
    }
    Ok(changed.len())
}

/// Starts a background refresh of the org's system documents when this process has not
/// refreshed them within `VOICE_KB_SYSTEM_TTL_SECS` (never on the caller's path).
pub fn refresh_if_stale(st: &VoiceState, org: OrgId) {
    let ttl = st.settings.kb_system_ttl;
    let stale = match st.kb_refreshed.lock() {
        Ok(mut m) => {
            let stale = m.get(&org).is_none_or(|at| at.elapsed() >= ttl);
            if stale {
                if m.len() > 50_000 {
                    m.clear();
                }
                // Marked now: concurrent reads do not start a second refresh.
                m.insert(org, Instant::now());
            }
            stale
        }
        Err(_) => false,
    };
    if !stale {
        return;
    }
    let st = st.clone();
    tokio::spawn(async move {
        match refresh_system(&st, org, None).await {
            Ok(n) => tracing::debug!(changed = n, "knowledge system documents refreshed"),
            Err(e) => {
                metrics::counter!("voice_kb_system_refresh_failures_total").increment(1);
                tracing::warn!(error = %e, "refreshing the knowledge system documents failed");
            }
        }
    });
}

/// Computes the missing embeddings of a document's chunks (no-op without an embeddings
/// endpoint); a failure is logged and leaves the document searchable by full text.
async fn embed_document(st: &VoiceState, org: OrgId, id: Uuid) {
    if let Err(e) = embed_missing(st, org, Some(id)).await {
        metrics::counter!("voice_kb_embedding_failures_total").increment(1);
        tracing::warn!(document = %id, error = %e, "embedding a knowledge document failed; full-text search still finds it");
    }
}

/// Embeds the org's chunks that lack a vector of the configured model (of one document, or all).
pub async fn embed_missing(
    st: &VoiceState,
    org: OrgId,
    document: Option<Uuid>,
) -> Result<usize, anyhow::Error> {
    let Some(client) = st.embeddings.clone() else {
        return Ok(0);
    };
    let mut done = 0;
    loop {
        let model = client.model().to_string();
        let batch = i64::try_from(crate::clients::embeddings::BATCH).unwrap_or(64);
        let todo = st
            .db
            .tenant_tx(org, |tx| {
                Box::pin(async move {
                    store::chunks_to_embed(tx, org, document, &model, batch)
                        .await
                        .map_err(StoreError::from)
                })
            })
            .await?;
        if todo.is_empty() {
            return Ok(done);
        }
        let texts: Vec<String> = todo
            .iter()
            .map(|c| format!("{}\n{}", c.heading, c.content))
            .collect();
        let vectors = client.embed(&texts, Duration::from_secs(10)).await?;
        let ids: Vec<Uuid> = todo.iter().map(|c| c.id).collect();
        let model = client.model().to_string();
        st.db
            .tenant_tx(org, |tx| {
                Box::pin(async move {
                    store::set_embeddings(tx, org, &model, &ids, &vectors)
                        .await
                        .map_err(StoreError::from)
                })
            })
            .await?;
        done += todo.len();
    }
}

/// How a result list was ranked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    FullText,
    Hybrid,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::FullText => "full_text",
            Mode::Hybrid => "hybrid",
        }
    }
}

/// A retrieved chunk with a similarity in (0, 1].
#[derive(Debug, Clone)]
pub struct Found {
    pub hit: Hit,
    pub similarity: f64,
}

/// Candidates each ranking contributes before fusion.
const CANDIDATES: i64 = 30;
/// Reciprocal rank fusion's constant (the paper's 60).
const RRF_K: f64 = 60.0;

/// The org's best chunks for `query`, one per document, at most `limit`: full-text search, fused
/// with the embeddings ranking when an endpoint is configured and answers within
/// `embed_budget` (else full text alone). An empty query (no words) finds nothing.
pub async fn retrieve(
    st: &VoiceState,
    org: OrgId,
    query: &str,
    limit: usize,
    embed_budget: Duration,
) -> Result<(Mode, Vec<Found>), KnowledgeError> {
    let terms = knowledge::query_terms(query);
    if terms.is_empty() {
        return Ok((Mode::FullText, Vec::new()));
    }
    let phrase = quoted_phrase(query);
    let fts = {
        let terms = terms.clone();
        st.db.tenant_tx(org, move |tx| {
            Box::pin(async move {
                store::search(tx, org, &terms, phrase.as_deref(), CANDIDATES)
                    .await
                    .map_err(KnowledgeError::from)
            })
        })
    };
    let vector = async {
        let client = st.embeddings.as_ref()?;
        let asked = client.embed(&[query.to_string()], embed_budget).await;
        match asked {
            Ok(mut v) => v.pop(),
            Err(e) => {
                metrics::counter!("voice_kb_embedding_failures_total").increment(1);
                tracing::warn!(error = %e, "embedding a knowledge query failed; full text alone");
                None
            }
        }
    };
    let (fts, vector) = tokio::join!(fts, vector);
    let fts = fts?;
    let Some(qv) = vector else {
        return Ok((Mode::FullText, full_text_only(fts, limit)));
    };
    let model = st
        .embeddings
        .as_ref()
        .map(|c| c.model().to_string())
        .unwrap_or_default();
    let all = st
        .db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                store::embeddings(tx, org, &model)
                    .await
                    .map_err(KnowledgeError::from)
            })
        })
        .await?;
    let mut by_cosine: Vec<(Uuid, f64)> = all
        .iter()
        .map(|e| (e.id, knowledge::cosine(&qv, &e.embedding)))
        .collect();
    by_cosine.sort_by(|a, b| b.1.total_cmp(&a.1));
    by_cosine.truncate(usize::try_from(CANDIDATES).unwrap_or(30));
    let lists = [
        fts.iter().map(|h| h.chunk_id).collect::<Vec<_>>(),
        by_cosine.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
    ];
    let fused = knowledge::rrf(&lists, RRF_K);
    let known: HashSet<Uuid> = fts.iter().map(|h| h.chunk_id).collect();
    let missing: Vec<Uuid> = fused
        .iter()
        .map(|(id, _)| *id)
        .filter(|id| !known.contains(id))
        .collect();
    let mut hits = fts;
    if !missing.is_empty() {
        let more = st
            .db
            .tenant_tx(org, |tx| {
                Box::pin(async move {
                    store::chunks_by_id(tx, org, &missing)
                        .await
                        .map_err(KnowledgeError::from)
                })
            })
            .await?;
        hits.extend(more);
    }
    // The best possible fused score: first in both lists.
    let best = 2.0 / (RRF_K + 1.0);
    let mut out = Vec::new();
    let mut docs = HashSet::new();
    for (id, score) in fused {
        let Some(hit) = hits.iter().find(|h| h.chunk_id == id) else {
            continue;
        };
        if docs.insert(hit.document_id) {
            out.push(Found {
                hit: hit.clone(),
                similarity: (score / best).clamp(0.0, 1.0),
            });
        }
        if out.len() == limit {
            break;
        }
    }
    Ok((Mode::Hybrid, out))
}

/// Full-text hits, best chunk per document, with the rank mapped into (0, 1).
fn full_text_only(hits: Vec<Hit>, limit: usize) -> Vec<Found> {
    let mut docs = HashSet::new();
    hits.into_iter()
        .filter(|h| docs.insert(h.document_id))
        .take(limit)
        .map(|h| {
            let s = h.score.max(0.0);
            Found {
                similarity: s / (s + 0.1),
                hit: h,
            }
        })
        .collect()
}

/// The first `"…"`-quoted part of a query, as words joined by spaces (a phrase to require).
fn quoted_phrase(query: &str) -> Option<String> {
    let start = query.find('"')?;
    let rest = &query[start + 1..];
    let end = rest.find('"')?;
    let words = knowledge::query_terms(&rest[..end]);
    (words.len() >= 2).then(|| words.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_phrases_are_words_only() {
        assert_eq!(
            quoted_phrase(r#"do you take "delta dental" plans"#).as_deref(),
            Some("delta dental")
        );
        assert_eq!(quoted_phrase(r#""a" b"#), None);
        assert_eq!(quoted_phrase("no quotes"), None);
        assert_eq!(quoted_phrase(r#"unclosed "delta dental"#), None);
    }

    #[test]
    fn validation_names_the_field() {
        let ok = DocumentInput {
            title: "Parking".into(),
            body: "Free lot.".into(),
            tags: Some(vec!["Directions".into(), "directions".into()]),
            ..Default::default()
        };
        let f = validate(ok.clone(), 1024).unwrap();
        assert_eq!(f.tags, ["directions"]);
        assert_eq!(f.kind, "text");
        let bad = |i: DocumentInput| validate(i, 1024).unwrap_err().field;
        assert_eq!(
            bad(DocumentInput {
                kind: Some("system".into()),
                ..ok.clone()
            }),
            "kind"
        );
        assert_eq!(
            bad(DocumentInput {
                kind: Some("pdf".into()),
                ..ok.clone()
            }),
            "kind"
        );
        assert_eq!(
            bad(DocumentInput {
                body: "x".repeat(1025),
                ..ok.clone()
            }),
            "body"
        );
        assert_eq!(
            bad(DocumentInput {
                body: "  ".into(),
                ..ok.clone()
            }),
            "body"
        );
        assert_eq!(
            bad(DocumentInput {
                body: "a\0b".into(),
                ..ok.clone()
            }),
            "body"
        );
        assert_eq!(
            bad(DocumentInput {
                title: String::new(),
                ..ok.clone()
            }),
            "title"
        );
        assert_eq!(
            bad(DocumentInput {
                tags: Some(vec![String::new()]),
                ..ok.clone()
            }),
            "tags"
        );
        assert_eq!(
            bad(DocumentInput {
                tags: Some((0..21).map(|i| format!("t{i}")).collect()),
                ..ok
            }),
            "tags"
        );
    }
}
