//! `/api/voice/messages`: the staff inbox of messages the agent took on calls (staff and
//! above): newest first, all or only the unhandled ones, one at a time, and marking one
//! handled. Every message shown is a read in the PHI access log.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use servicekit::ApiError;
use servicekit::page::{Page, PageRequest};
use tenancy::{Role, Tenant};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::problem::reader;
use crate::core::inbox::{self, Message};
use crate::state::VoiceState;

/// A message the agent took.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageView {
    pub id: Uuid,
    /// The call it was taken on.
    pub call_id: Option<Uuid>,
    /// E.164 number to call back.
    pub callback_number: Option<String>,
    /// The name the caller gave.
    pub caller_name: Option<String>,
    /// The caller's message.
    pub message: String,
    pub created_at: DateTime<Utc>,
    /// When a staff member marked it handled (`null`: not yet).
    pub handled_at: Option<DateTime<Utc>>,
    /// Who marked it handled.
    pub handled_by: Option<Uuid>,
}

impl From<Message> for MessageView {
    fn from(m: Message) -> Self {
        MessageView {
            id: m.id,
            call_id: m.call_id,
            callback_number: m.callback_number,
            caller_name: m.caller_name,
            message: m.text,
            created_at: m.created_at,
            handled_at: m.handled_at,
            handled_by: m.handled_by,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListMessagesQuery {
    /// `false`: only messages nobody handled yet; `true`: only handled ones; absent: all.
    pub handled: Option<bool>,
    /// Items per page, 1–200 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Messages the agent took, newest first (staff and above).
#[utoipa::path(get, path = "/api/voice/messages", tag = "messages", params(ListMessagesQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "one page of messages", body = Page<MessageView>),
              (status = 400, description = "`handled` is not true or false (`invalid_query`)"),
              (status = 403, description = "staff and above (`insufficient_role`)"),
              (status = 422, description = "a bad `limit` or `cursor` (`invalid_query`)")))]
pub async fn list_messages(
    st: web::Data<VoiceState>,
    tenant: Tenant,
    query: web::Query<ListMessagesQuery>,
) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Staff)?;
    let q = query.into_inner();
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    let rows = inbox::list(&st, reader(&tenant), q.handled, page).await?;
    Ok(HttpResponse::Ok().json(page.page(rows, inbox::key, MessageView::from)))
}

/// One message (staff and above).
#[utoipa::path(get, path = "/api/voice/messages/{id}", tag = "messages",
    params(("id" = Uuid, Path, description = "the message's id")),
    security(("bearer" = [])),
    responses((status = 200, description = "the message", body = MessageView),
              (status = 400, description = "the id is not a UUID (`invalid_path`)"),
              (status = 403, description = "staff and above (`insufficient_role`)"),
              (status = 404, description = "no such message in this org (`not_found`)")))]
pub async fn get_message(
    st: web::Data<VoiceState>,
    tenant: Tenant,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Staff)?;
    let m = inbox::get(&st, reader(&tenant), id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(MessageView::from(m)))
}

/// Mark a message handled (staff and above); marking it again keeps the first marking.
#[utoipa::path(post, path = "/api/voice/messages/{id}/handled", tag = "messages",
    params(("id" = Uuid, Path, description = "the message's id")),
    security(("bearer" = [])),
    responses((status = 200, description = "the message, handled", body = MessageView),
              (status = 400, description = "the id is not a UUID (`invalid_path`)"),
              (status = 403, description = "staff and above (`insufficient_role`)"),
              (status = 404, description = "no such message in this org (`not_found`)")))]
pub async fn mark_handled(
    st: web::Data<VoiceState>,
    tenant: Tenant,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Staff)?;
    let m = inbox::mark_handled(&st, reader(&tenant), id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(MessageView::from(m)))
}
