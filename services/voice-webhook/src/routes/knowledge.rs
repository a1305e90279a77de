//! `/api/voice/knowledge`: the org's knowledge base. Admins write documents (JSON, or an uploaded
//! Markdown / plain-text file), the search language and a refresh of the documents generated
//! from calendar; staff and above list, read and search.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use servicekit::page::{Page, PageRequest};
use servicekit::{ApiError, Json};
use tenancy::{Role, Tenant};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::problem::reader;
use crate::core::knowledge::{self, Document, DocumentInput};
use crate::state::VoiceState;
use crate::store::knowledge::{DocumentFilter, DocumentRow};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DocumentRequest {
    /// `faq` (the title is the question, the body its answer), `text` (default) or `markdown`
    /// (cut on its headings).
    pub kind: Option<String>,
    /// 1–300 characters.
    pub title: String,
    /// The text; at most `VOICE_KB_DOC_MAX_BYTES` (default 64 KiB) of UTF-8.
    pub body: String,
    /// At most 20 tags of 1–40 characters (lower-cased).
    pub tags: Option<Vec<String>>,
    /// Inactive documents are kept but never found (default true).
    pub active: Option<bool>,
}

impl From<DocumentRequest> for DocumentInput {
    fn from(b: DocumentRequest) -> Self {
        DocumentInput {
            kind: b.kind,
            title: b.title,
            body: b.body,
            tags: b.tags,
            active: b.active,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DocumentView {
    pub id: Uuid,
    /// `faq`, `text`, `markdown`, or `system` (generated from calendar; read-only).
    pub kind: String,
    /// For system documents: `services` or `hours`.
    pub system_key: Option<String>,
    pub title: String,
    pub body: String,
    pub tags: Vec<String>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// After a create or update: how many searchable chunks the document was cut into.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunks: Option<usize>,
}

impl From<DocumentRow> for DocumentView {
    fn from(r: DocumentRow) -> Self {
        DocumentView {
            tags: r.tags(),
            id: r.id,
            kind: r.kind,
            system_key: r.system_key,
            title: r.title,
            body: r.body,
            active: r.active,
            created_at: r.created_at,
            updated_at: r.updated_at,
            chunks: None,
        }
    }
}

impl From<Document> for DocumentView {
    fn from(d: Document) -> Self {
        let mut v = DocumentView::from(d.row);
        v.chunks = Some(d.chunks);
        v
    }
}

/// Add a document (admin).
#[utoipa::path(post, path = "/api/voice/knowledge", tag = "knowledge", request_body = DocumentRequest,
    security(("bearer" = [])),
    responses((status = 201, description = "the document, chunked and indexed", body = DocumentView),
              (status = 403, description = "admin only (`insufficient_role`)"),
              (status = 409, description = "the org has VOICE_KB_DOCS_PER_ORG documents already (`knowledge_limit_reached`)"),
              (status = 422, description = "a field breaks its rule (`invalid_field`): kind, title, body (size, NUL), tags")))]
pub async fn create_document(
    st: web::Data<VoiceState>,
    tenant: Tenant,
    body: Json<DocumentRequest>,
) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Admin)?;
    let doc = knowledge::create(&st, reader(&tenant), body.into_inner().into()).await?;
    Ok(HttpResponse::Created().json(DocumentView::from(doc)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// The document's title (1–300 characters).
    pub title: String,
    /// Comma-separated tags.
    pub tags: Option<String>,
}

/// Upload a Markdown (`text/markdown`) or plain-text (`text/plain`) file as a document (admin).
#[utoipa::path(post, path = "/api/voice/knowledge/upload", tag = "knowledge", params(UploadQuery),
    request_body(content((String = "text/markdown"), (String = "text/plain")), description = "the file, UTF-8"),
    security(("bearer" = [])),
    responses((status = 201, description = "the document, chunked and indexed", body = DocumentView),
              (status = 403, description = "admin only (`insufficient_role`)"),
              (status = 409, description = "the org has VOICE_KB_DOCS_PER_ORG documents already (`knowledge_limit_reached`)"),
              (status = 413, description = "larger than VOICE_KB_DOC_MAX_BYTES (`payload_too_large`)"),
              (status = 415, description = "not text/markdown or text/plain (`unsupported_media_type`)"),
              (status = 422, description = "not UTF-8, empty, or a bad title or tag (`invalid_field`)")))]
pub async fn upload_document(
    st: web::Data<VoiceState>,
    tenant: Tenant,
    req: HttpRequest,
    query: web::Query<UploadQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Admin)?;
    let mime = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let kind = match mime.as_str() {
        "text/markdown" | "text/x-markdown" => "markdown",
        "text/plain" => "text",
        _ => {
            return Err(ApiError::UnsupportedMediaType {
                detail: "upload text/markdown or text/plain".into(),
            });
        }
    };
    let body = read_limited(&req, payload, st.settings.kb_doc_max_bytes).await?;
    let text = String::from_utf8(body.to_vec()).map_err(|_| {
        ApiError::invalid("invalid_field", Some("body"), "the file is not UTF-8 text")
    })?;
    let q = query.into_inner();
    let tags = q.tags.map(|t| {
        t.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    });
    let input = DocumentInput {
        kind: Some(kind.into()),
        title: q.title,
        body: text,
        tags,
        active: Some(true),
    };
    let doc = knowledge::create(&st, reader(&tenant), input).await?;
    Ok(HttpResponse::Created().json(DocumentView::from(doc)))
}

/// The raw body, refused with 413 past `limit` bytes.
async fn read_limited(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::Bytes, ApiError> {
    use futures_util::StreamExt as _;
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest {
            code: "bad_body",
            detail: format!("could not read the request body: {e}"),
        })?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListDocumentsQuery {
    /// Only documents of this kind (`faq`, `text`, `markdown`, `system`).
    pub kind: Option<String>,
    /// Only active (`true`) or inactive (`false`) documents.
    pub active: Option<bool>,
    /// Only documents carrying this tag.
    pub tag: Option<String>,
    /// Items per page, 1–200 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// The org's documents, oldest first (staff and above).
#[utoipa::path(get, path = "/api/voice/knowledge", tag = "knowledge", params(ListDocumentsQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "one page of documents", body = Page<DocumentView>),
              (status = 403, description = "staff and above (`insufficient_role`)"),
              (status = 422, description = "a bad `kind`, `limit` or `cursor` (`invalid_query`)")))]
pub async fn list_documents(
    st: web::Data<VoiceState>,
    tenant: Tenant,
    query: web::Query<ListDocumentsQuery>,
) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Staff)?;
    let q = query.into_inner();
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    let filter = DocumentFilter {
        kind: q.kind,
        active: q.active,
        tag: q.tag.map(|t| t.trim().to_lowercase()),
    };
    let rows = knowledge::list(&st, tenant.org_id(), filter, page).await?;
    Ok(HttpResponse::Ok().json(page.page(rows, |r| (r.created_at, r.id), DocumentView::from)))
}

/// One document (staff and above).
#[utoipa::path(get, path = "/api/voice/knowledge/{id}", tag = "knowledge",
    params(("id" = Uuid, Path, description = "the document's id")),
    security(("bearer" = [])),
    responses((status = 200, description = "the document", body = DocumentView),
              (status = 403, description = "staff and above (`insufficient_role`)"),
              (status = 404, description = "no such document in this org (`not_found`)")))]
pub async fn get_document(
    st: web::Data<VoiceState>,
    tenant: Tenant,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Staff)?;
    let row = knowledge::get(&st, tenant.org_id(), id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(DocumentView::from(row)))
}

/// Replace a document (admin); system documents are read-only.
#[utoipa::path(put, path = "/api/voice/knowledge/{id}", tag = "knowledge", request_body = DocumentRequest,
    params(("id" = Uuid, Path, description = "the document's id")),
    security(("bearer" = [])),
    responses((status = 200, description = "the document, re-chunked and re-indexed", body = DocumentView),
              (status = 403, description = "admin only (`insufficient_role`)"),
              (status = 404, description = "no such document in this org (`not_found`)"),
              (status = 409, description = "a system document, generated from calendar (`system_document`)"),
              (status = 422, description = "a field breaks its rule (`invalid_field`)")))]
pub async fn update_document(
    st: web::Data<VoiceState>,
    tenant: Tenant,
    id: web::Path<Uuid>,
    body: Json<DocumentRequest>,
) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Admin)?;
    let doc = knowledge::update(
        &st,
        reader(&tenant),
        id.into_inner(),
        body.into_inner().into(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(DocumentView::from(doc)))
}

/// Delete a document (admin); system documents are read-only.
#[utoipa::path(delete, path = "/api/voice/knowledge/{id}", tag = "knowledge",
    params(("id" = Uuid, Path, description = "the document's id")),
    security(("bearer" = [])),
    responses((status = 204, description = "deleted"),
              (status = 403, description = "admin only (`insufficient_role`)"),
              (status = 404, description = "no such document in this org (`not_found`)"),
              (status = 409, description = "a system document, generated from calendar (`system_document`)")))]
pub async fn delete_document(
    st: web::Data<VoiceState>,
    tenant: Tenant,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Admin)?;
    knowledge::delete(&st, reader(&tenant), id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// What to look for (words; a `"quoted phrase"` must match as a phrase); at most 1000
    /// characters.
    pub q: String,
    /// Results, 1–20 (default 5).
    pub limit: Option<usize>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SearchHit {
    pub document_id: Uuid,
    pub chunk_id: Uuid,
    pub title: String,
    /// The document title and section path of the chunk.
    pub heading: String,
    pub content: String,
    /// 0–1, higher is closer.
    pub similarity: f64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SearchResult {
    /// `full_text`, or `hybrid` (full text and embeddings fused by reciprocal rank).
    pub mode: String,
    /// The best chunk of each matching document, best first.
    pub items: Vec<SearchHit>,
}

/// Search the knowledge base as the voice agent does (staff and above).
#[utoipa::path(get, path = "/api/voice/knowledge/search", tag = "knowledge", params(SearchQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "the best matches (none for a query without words)", body = SearchResult),
              (status = 403, description = "staff and above (`insufficient_role`)"),
              (status = 422, description = "`q` longer than 1000 characters or a bad `limit` (`invalid_query`)")))]
pub async fn search_knowledge(
    st: web::Data<VoiceState>,
    tenant: Tenant,
    query: web::Query<SearchQuery>,
) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Staff)?;
    let q = query.into_inner();
    if q.q.chars().count() > 1000 {
        return Err(ApiError::invalid(
            "invalid_query",
            Some("q"),
            "q must be at most 1000 characters",
        ));
    }
    let limit = q.limit.unwrap_or(5);
    if !(1..=20).contains(&limit) {
        return Err(ApiError::invalid(
            "invalid_query",
            Some("limit"),
            "limit must be 1 to 20",
        ));
    }
    knowledge::refresh_if_stale(&st, tenant.org_id());
    let (mode, found) = knowledge::retrieve(
        &st,
        tenant.org_id(),
        &q.q,
        limit,
        std::time::Duration::from_secs(5),
    )
    .await?;
    Ok(HttpResponse::Ok().json(SearchResult {
        mode: mode.as_str().into(),
        items: found
            .into_iter()
            .map(|f| SearchHit {
                document_id: f.hit.document_id,
                chunk_id: f.hit.chunk_id,
                title: f.hit.title,
                heading: f.hit.heading,
                content: f.hit.content,
                similarity: f.similarity,
            })
            .collect(),
    }))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RefreshResult {
    /// How many system documents changed (0 when calendar's facts are unchanged).
    pub changed: usize,
}

/// Rewrite the documents generated from calendar (services and prices, opening hours and
/// closed days) now (admin). They are also refreshed in the background when older than
/// VOICE_KB_SYSTEM_TTL_SECS at a read.
#[utoipa::path(post, path = "/api/voice/knowledge/refresh", tag = "knowledge",
    security(("bearer" = [])),
    responses((status = 200, description = "refreshed", body = RefreshResult),
              (status = 403, description = "admin only (`insufficient_role`)"),
              (status = 503, description = "calendar could not be asked (`calendar_unavailable`)")))]
pub async fn refresh_knowledge(
    st: web::Data<VoiceState>,
    tenant: Tenant,
) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Admin)?;
    let changed = knowledge::refresh_system(&st, tenant.org_id(), Some(reader(&tenant))).await?;
    Ok(HttpResponse::Ok().json(RefreshResult { changed }))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KnowledgeSettings {
    /// The Postgres text-search configuration of the org's documents and queries: `simple`,
    /// `english` (default), `spanish`, `french`, `german`, `italian`, `portuguese`, `dutch`.
    pub language: String,
}

/// The knowledge base's settings (staff and above).
#[utoipa::path(get, path = "/api/voice/knowledge/settings", tag = "knowledge",
    security(("bearer" = [])),
    responses((status = 200, description = "the settings", body = KnowledgeSettings),
              (status = 403, description = "staff and above (`insufficient_role`)")))]
pub async fn get_settings(
    st: web::Data<VoiceState>,
    tenant: Tenant,
) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Staff)?;
    let language = knowledge::language(&st, tenant.org_id()).await?;
    Ok(HttpResponse::Ok().json(KnowledgeSettings { language }))
}

/// Set the search language (admin); the org's documents are re-indexed in it.
#[utoipa::path(put, path = "/api/voice/knowledge/settings", tag = "knowledge", request_body = KnowledgeSettings,
    security(("bearer" = [])),
    responses((status = 200, description = "the settings", body = KnowledgeSettings),
              (status = 403, description = "admin only (`insufficient_role`)"),
              (status = 422, description = "an unknown language (`invalid_field`)")))]
pub async fn put_settings(
    st: web::Data<VoiceState>,
    tenant: Tenant,
    body: Json<KnowledgeSettings>,
) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Admin)?;
    let language =
        knowledge::set_language(&st, reader(&tenant), body.into_inner().language).await?;
    Ok(HttpResponse::Ok().json(KnowledgeSettings { language }))
}
