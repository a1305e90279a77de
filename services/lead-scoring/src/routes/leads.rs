//! `/api/leads`: the list, one lead's detail (score history, reasons, stage history, timeline,
//! notes), a manual stage move and notes. Any role reads; staff and above change.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use servicekit::page::PageRequest;
use servicekit::{ApiError, Json};
use tenancy::{Role, Tenant};
use utoipa::ToSchema;
use uuid::Uuid;

use super::problem::{LeadView, ListLeadsQuery};
use crate::core::leads;
use crate::domain::model::Reason;
use crate::domain::stage::Stage;
use crate::state::AppState;
use crate::store::history::{EventRow, NoteRow, ScoreRow, StageRow};

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LeadPage {
    pub items: Vec<LeadView>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ScoreView {
    pub score: i16,
    pub tier: String,
    pub next_action: String,
    pub model_version: String,
    pub reasons: Vec<Reason>,
    /// The event type that caused it, or `rescore`.
    pub cause: String,
    pub created_at: DateTime<Utc>,
}

impl From<ScoreRow> for ScoreView {
    fn from(r: ScoreRow) -> Self {
        ScoreView {
            score: r.score,
            tier: r.tier,
            next_action: r.next_action,
            model_version: r.model_version,
            reasons: serde_json::from_value(r.reasons).unwrap_or_default(),
            cause: r.cause,
            created_at: r.created_at,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StageView {
    pub from_stage: Option<String>,
    pub to_stage: String,
    /// `automatic` or `manual`.
    pub source: String,
    /// `user:<id>` for a manual move, the event type for an automatic one.
    pub actor: String,
    pub reason: String,
    pub created_at: DateTime<Utc>,
}

impl From<StageRow> for StageView {
    fn from(r: StageRow) -> Self {
        StageView {
            from_stage: r.from_stage,
            to_stage: r.to_stage,
            source: r.source,
            actor: r.actor,
            reason: r.reason,
            created_at: r.created_at,
        }
    }
}

/// One thing that happened with the lead.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TimelineItem {
    pub at: DateTime<Utc>,
    /// `call`, `appointment`, `message` or `opt_out`.
    pub kind: String,
    /// The event it comes from, e.g. `call.ended.v1`.
    pub event_type: String,
    /// The call, appointment or message it is about.
    pub subject_id: Option<Uuid>,
    /// What happened, in a few words.
    pub text: String,
    /// Vapi's call summary (ended calls with an analysis).
    pub summary: Option<String>,
}

fn timeline_item(e: EventRow) -> TimelineItem {
    let p = &e.payload;
    let s = |k: &str| p[k].as_str().unwrap_or("").to_string();
    let id = |k: &str| p[k].as_str().and_then(|v| v.parse().ok());
    let (kind, subject, text) = match e.event_type.as_str() {
        "call.started.v1" => ("call", id("call_id"), "call started".to_string()),
        "call.ended.v1" => (
            "call",
            id("call_id"),
            format!(
                "call ended after {} s ({}){}",
                p["duration_seconds"].as_u64().unwrap_or(0),
                s("ended_reason"),
                if p["booked"] == true { ", booked" } else { "" }
            ),
        ),
        t if t.starts_with("appointment.") => {
            let what = t
                .trim_start_matches("appointment.")
                .trim_end_matches(".v1")
                .replace("missed", "no-show")
                .replace("completed", "kept");
            (
                "appointment",
                id("appointment_id"),
                format!("{} {what} for {}", s("service_name"), s("starts_at")),
            )
        }
        "message.delivered.v1" => (
            "message",
            id("message_id"),
            format!("text delivered ({})", s("template_key")),
        ),
        "message.failed.v1" => (
            "message",
            id("message_id"),
            format!("text failed ({})", s("error_code")),
        ),
        "contact.opted_out.v1" => ("opt_out", None, format!("opted out ({})", s("keyword"))),
        "voice.message_taken.v1" => (
            "message",
            id("message_id"),
            "left a message for the staff".to_string(),
        ),
        other => ("other", None, other.to_string()),
    };
    TimelineItem {
        summary: p["analysis"]["summary"].as_str().map(str::to_string),
        at: e.occurred_at,
        kind: kind.into(),
        event_type: e.event_type,
        subject_id: subject,
        text,
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NoteView {
    pub id: Uuid,
    pub author_id: Uuid,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

impl From<NoteRow> for NoteView {
    fn from(r: NoteRow) -> Self {
        NoteView {
            id: r.id,
            author_id: r.author_id,
            body: r.body,
            created_at: r.created_at,
        }
    }
}

/// A lead with why it scored what it did and what happened.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LeadDetail {
    pub lead: LeadView,
    /// The current score's reasons, strongest first, each quoting its evidence.
    pub reasons: Vec<Reason>,
    /// The feature vector of the current score.
    #[schema(value_type = Object)]
    pub features: BTreeMap<String, serde_json::Value>,
    /// Newest first, at most 50.
    pub score_history: Vec<ScoreView>,
    pub stage_history: Vec<StageView>,
    /// Calls, appointments, messages and opt-outs, newest first.
    pub timeline: Vec<TimelineItem>,
    /// Newest first.
    pub notes: Vec<NoteView>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StageChangeRequest {
    /// `new`, `contacted`, `qualified`, `booked`, `won` or `lost`.
    pub stage: String,
    /// Why (shown in the stage history), 1–500 characters.
    pub reason: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteRequest {
    /// 1–4000 characters.
    pub body: String,
}

/// Leads, highest score (or most recent contact) first, with filters, search and a cursor.
#[utoipa::path(get, path = "/api/leads", tag = "leads", params(ListLeadsQuery),
    security(("bearer" = [])),
    responses((status = 200, body = LeadPage),
        (status = 422, description = "invalid_query: sort, tier, stage, q, to, limit or cursor")))]
#[tracing::instrument(skip_all, fields(org = %tenant.org_id()))]
pub async fn list_leads(
    st: web::Data<AppState>,
    tenant: Tenant,
    q: web::Query<ListLeadsQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    let mut filters = q.filters()?;
    let sort = filters.sort;
    filters.after = page.after.map(|(at, id)| (at.timestamp_micros(), id));
    filters.fetch = page.fetch_limit();
    let rows = leads::list(&st.db, tenant.org_id(), filters).await?;
    // The cursor carries the sort key in the timestamp slot of the shared cursor format.
    let page = page.page(
        rows,
        |r| {
            (
                DateTime::from_timestamp_micros(r.sort_key(sort)).unwrap_or_default(),
                r.id,
            )
        },
        LeadView::from,
    );
    Ok(HttpResponse::Ok().json(LeadPage {
        items: page.items,
        next_cursor: page.next_cursor,
    }))
}

/// One lead: current reasons and features, score and stage history, timeline, notes.
#[utoipa::path(get, path = "/api/leads/{id}", tag = "leads",
    params(("id" = Uuid, Path, description = "the lead (contact) id")), security(("bearer" = [])),
    responses((status = 200, body = LeadDetail), (status = 404, description = "no such lead in this org")))]
#[tracing::instrument(skip_all, fields(org = %tenant.org_id()))]
pub async fn get_lead(
    st: web::Data<AppState>,
    tenant: Tenant,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let d = leads::detail(&st.db, tenant.org_id(), id.into_inner()).await?;
    let current = d.scores.first();
    let reasons = current
        .and_then(|s| serde_json::from_value(s.reasons.clone()).ok())
        .unwrap_or_default();
    let features = current
        .and_then(|s| serde_json::from_value(s.features.clone()).ok())
        .unwrap_or_default();
    let mut timeline: Vec<TimelineItem> = d.events.into_iter().map(timeline_item).collect();
    timeline.reverse();
    Ok(HttpResponse::Ok().json(LeadDetail {
        lead: d.contact.into(),
        reasons,
        features,
        score_history: d.scores.into_iter().map(ScoreView::from).collect(),
        stage_history: d.stages.into_iter().map(StageView::from).collect(),
        timeline,
        notes: d.notes.into_iter().map(NoteView::from).collect(),
    }))
}

/// Move a lead to a stage by hand (staff). It holds over automatic moves until an appointment
/// is booked, moved or kept after it (ADR 0017).
#[utoipa::path(post, path = "/api/leads/{id}/stage", tag = "leads", request_body = StageChangeRequest,
    params(("id" = Uuid, Path, description = "the lead (contact) id")), security(("bearer" = [])),
    responses((status = 200, body = LeadView), (status = 404, description = "no such lead in this org"),
        (status = 403, description = "insufficient_role (viewers read only)"),
        (status = 422, description = "invalid_field: stage or reason")))]
#[tracing::instrument(skip_all, fields(org = %tenant.org_id()))]
pub async fn change_stage(
    st: web::Data<AppState>,
    tenant: Tenant,
    id: web::Path<Uuid>,
    body: Json<StageChangeRequest>,
) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Staff)?;
    let b = body.into_inner();
    let stage = Stage::parse(&b.stage).ok_or_else(|| {
        ApiError::invalid(
            "invalid_field",
            Some("stage"),
            "stage must be new, contacted, qualified, booked, won or lost",
        )
    })?;
    let reason = b.reason.trim().to_string();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(ApiError::invalid(
            "invalid_field",
            Some("reason"),
            "reason must be 1 to 500 characters",
        ));
    }
    let c = leads::set_stage(
        &st.db,
        tenant.org_id(),
        id.into_inner(),
        stage,
        tenant.user_id().0,
        reason,
    )
    .await?;
    Ok(HttpResponse::Ok().json(LeadView::from(c)))
}

/// Add a note to a lead (staff).
#[utoipa::path(post, path = "/api/leads/{id}/notes", tag = "leads", request_body = NoteRequest,
    params(("id" = Uuid, Path, description = "the lead (contact) id")), security(("bearer" = [])),
    responses((status = 201, body = NoteView), (status = 404, description = "no such lead in this org"),
        (status = 403, description = "insufficient_role (viewers read only)"),
        (status = 422, description = "invalid_field: body")))]
#[tracing::instrument(skip_all, fields(org = %tenant.org_id()))]
pub async fn add_note(
    st: web::Data<AppState>,
    tenant: Tenant,
    id: web::Path<Uuid>,
    body: Json<NoteRequest>,
) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Staff)?;
    let text = body.into_inner().body.trim().to_string();
    if text.is_empty() || text.chars().count() > 4000 {
        return Err(ApiError::invalid(
            "invalid_field",
            Some("body"),
            "body must be 1 to 4000 characters",
        ));
    }
    let n = leads::add_note(
        &st.db,
        tenant.org_id(),
        id.into_inner(),
        tenant.user_id().0,
        text,
    )
    .await?;
    Ok(HttpResponse::Created().json(NoteView::from(n)))
}
