//! `/api/messaging/messages`: send (stored first, sent by the dispatcher; idempotent with
//! `Idempotency-Key`), list the audit trail with filters and a cursor, read one with its status
//! history. Staff and above send; any role reads.

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};
use servicekit::page::PageRequest;
use servicekit::{ApiError, Json};
use tenancy::{Role, Tenant};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::problem::{MessageView, StatusEventView};
use crate::core::messages::{self, SendRequest, Submitted};
use crate::domain::phone::{Channel, is_e164};
use crate::state::AppState;
use crate::store::messages::ListMessages;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendMessageRequest {
    /// E.164 recipient.
    pub to: String,
    /// The text (1–1,600 characters); or `template_key`.
    pub body: Option<String>,
    /// A template of the org (or a default one), rendered with `variables`.
    pub template_key: Option<String>,
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    /// `sms` (default) or `whatsapp`.
    pub channel: Option<String>,
    /// Send later (at most 35 days ahead); quiet hours still apply.
    #[schema(value_type = Option<String>)]
    pub send_at: Option<DateTime<FixedOffset>>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MessagePage {
    pub items: Vec<MessageView>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MessageDetail {
    pub message: MessageView,
    /// Every status recorded, oldest first.
    pub history: Vec<StatusEventView>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListMessagesQuery {
    /// E.164: messages to or from this number.
    pub phone: Option<String>,
    /// Comma-separated statuses.
    pub status: Option<String>,
    /// `outbound` or `inbound`.
    pub direction: Option<String>,
    /// Created at or after this instant.
    pub from: Option<DateTime<FixedOffset>>,
    /// … and before this one.
    pub to: Option<DateTime<FixedOffset>>,
    pub appointment_id: Option<Uuid>,
    /// 1–200, default 50.
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Send a message (staff). Stored before Twilio is called; the answer is the stored message
/// (`pending`, or `simulated` when the org has no Twilio account).
#[utoipa::path(post, path = "/api/messaging/messages", tag = "messages", request_body = SendMessageRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "the same key and body return the same message")),
    security(("bearer" = [])),
    responses((status = 202, body = MessageView), (status = 200, description = "replay of the same key and body", body = MessageView),
        (status = 404, description = "no such template"),
        (status = 422, description = "invalid_field, invalid_template, invalid_header, idempotency_key_reused, contact_opted_out or whatsapp_window_closed")))]
#[tracing::instrument(skip_all, fields(org = %tenant.org_id()))]
pub async fn send_message(
    st: web::Data<AppState>,
    tenant: Tenant,
    req: HttpRequest,
    body: Json<SendMessageRequest>,
) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Staff)?;
    let key = match req.headers().get("idempotency-key") {
        None => None,
        Some(v) => {
            let s = v.to_str().unwrap_or("");
            if s.is_empty() || s.len() > 200 || !s.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(ApiError::invalid(
                    "invalid_header",
                    Some("Idempotency-Key"),
                    "Idempotency-Key is 1-200 visible ASCII characters",
                ));
            }
            Some(s.to_string())
        }
    };
    let b = body.into_inner();
    let channel = match b.channel.as_deref().unwrap_or("sms").parse::<Channel>() {
        Ok(c) => c,
        Err(()) => {
            return Err(ApiError::invalid(
                "invalid_field",
                Some("channel"),
                "channel is sms or whatsapp",
            ));
        }
    };
    let fingerprint = messages::fingerprint(&[
        &b.to,
        b.body.as_deref().unwrap_or(""),
        b.template_key.as_deref().unwrap_or(""),
        &serde_json::to_string(&b.variables).unwrap_or_default(),
        channel.as_str(),
        &b.send_at.map(|d| d.to_rfc3339()).unwrap_or_default(),
    ]);
    let r = SendRequest {
        to: b.to,
        body: b.body,
        template_key: b.template_key,
        variables: b.variables,
        channel,
        send_at: b.send_at.map(|d| d.with_timezone(&Utc)),
        idempotency_key: key,
        fingerprint,
    };
    let org = tenant.org_id();
    Ok(match messages::submit(&st, org, r).await? {
        Submitted::Created(row) => {
            HttpResponse::Accepted().json(MessageView::from(messages::show(&st, org, *row)?))
        }
        Submitted::Replayed(row) => {
            HttpResponse::Ok().json(MessageView::from(messages::show(&st, org, *row)?))
        }
    })
}

/// The messages audit trail, newest first.
#[utoipa::path(get, path = "/api/messaging/messages", tag = "messages", params(ListMessagesQuery), security(("bearer" = [])),
    responses((status = 200, body = MessagePage), (status = 422, description = "invalid_query: limit, cursor, phone, status or direction")))]
#[tracing::instrument(skip_all, fields(org = %tenant.org_id()))]
pub async fn list_messages(
    st: web::Data<AppState>,
    tenant: Tenant,
    q: web::Query<ListMessagesQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    if q.phone.as_deref().is_some_and(|p| !is_e164(p)) {
        return Err(ApiError::invalid(
            "invalid_query",
            Some("phone"),
            "phone must be E.164, e.g. +15550100123",
        ));
    }
    if q.direction
        .as_deref()
        .is_some_and(|d| d != "outbound" && d != "inbound")
    {
        return Err(ApiError::invalid(
            "invalid_query",
            Some("direction"),
            "direction is outbound or inbound",
        ));
    }
    let statuses: Vec<String> = q
        .status
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    if statuses
        .iter()
        .any(|s| s.len() > 32 || !s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
    {
        return Err(ApiError::invalid(
            "invalid_query",
            Some("status"),
            "status is a comma-separated list of statuses",
        ));
    }
    let list = ListMessages {
        phone: q.phone,
        statuses,
        direction: q.direction,
        from: q.from.map(|d| d.with_timezone(&Utc)),
        to: q.to.map(|d| d.with_timezone(&Utc)),
        appointment_id: q.appointment_id,
        after: page.after,
        limit: page.fetch_limit(),
    };
    let rows = messages::list(&st, tenant.org_id(), list).await?;
    let page = page.page(rows, |s| (s.row.created_at, s.row.id), MessageView::from);
    Ok(HttpResponse::Ok().json(MessagePage {
        items: page.items,
        next_cursor: page.next_cursor,
    }))
}

/// One message with its status history.
#[utoipa::path(get, path = "/api/messaging/messages/{id}", tag = "messages",
    params(("id" = Uuid, Path, description = "the message")), security(("bearer" = [])),
    responses((status = 200, body = MessageDetail), (status = 404, description = "no such message in this org")))]
#[tracing::instrument(skip_all, fields(org = %tenant.org_id()))]
pub async fn get_message(
    st: web::Data<AppState>,
    tenant: Tenant,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let (shown, history) = messages::get(&st, tenant.org_id(), id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(MessageDetail {
        message: MessageView::from(shown),
        history: history.into_iter().map(StatusEventView::from).collect(),
    }))
}
