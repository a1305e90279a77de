//! `/api/messaging/templates`: the org's texts with `{{variables}}`; admins replace them (unknown
//! variables are refused); a preview renders one and counts its SMS segments.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use servicekit::{ApiError, Json};
use tenancy::{Role, Tenant};
use utoipa::ToSchema;

use crate::core::templates;
use crate::state::AppState;
use crate::store::templates::TemplateRow;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TemplateView {
    pub key: String,
    pub channel: String,
    pub body: String,
    /// WhatsApp: the approved Content API template (`HX…`).
    pub content_sid: Option<String>,
    pub updated_at: DateTime<Utc>,
}

impl From<TemplateRow> for TemplateView {
    fn from(r: TemplateRow) -> Self {
        TemplateView {
            key: r.key,
            channel: r.channel,
            body: r.body,
            content_sid: r.content_sid,
            updated_at: r.updated_at,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TemplateList {
    pub items: Vec<TemplateView>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutTemplateRequest {
    pub body: String,
    /// `sms` (default) or `whatsapp`.
    pub channel: Option<String>,
    pub content_sid: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    pub body: String,
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PreviewView {
    pub text: String,
    /// `GSM-7` or `UCS-2`.
    pub encoding: String,
    /// Septets (GSM-7) or UTF-16 units (UCS-2).
    pub units: usize,
    pub segments: usize,
    /// The variables the template uses, in order.
    pub variables: Vec<String>,
}

/// The org's templates.
#[utoipa::path(get, path = "/api/messaging/templates", tag = "templates", security(("bearer" = [])),
    responses((status = 200, body = TemplateList)))]
#[tracing::instrument(skip_all, fields(org = %tenant.org_id()))]
pub async fn list_templates(
    st: web::Data<AppState>,
    tenant: Tenant,
) -> Result<HttpResponse, ApiError> {
    let rows = templates::list(&st, tenant.org_id()).await?;
    Ok(HttpResponse::Ok().json(TemplateList {
        items: rows.into_iter().map(TemplateView::from).collect(),
    }))
}

/// Replace a template (admins).
#[utoipa::path(put, path = "/api/messaging/templates/{key}", tag = "templates", request_body = PutTemplateRequest,
    params(("key" = String, Path, description = "e.g. appointment_reminder")), security(("bearer" = [])),
    responses((status = 200, body = TemplateView), (status = 422, description = "invalid_field or invalid_template (unknown variable)")))]
#[tracing::instrument(skip_all, fields(org = %tenant.org_id()))]
pub async fn put_template(
    st: web::Data<AppState>,
    tenant: Tenant,
    key: web::Path<String>,
    body: Json<PutTemplateRequest>,
) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Admin)?;
    let b = body.into_inner();
    let row = templates::put(
        &st,
        tenant.org_id(),
        key.into_inner(),
        b.channel.unwrap_or_else(|| "sms".into()),
        b.body,
        b.content_sid,
    )
    .await?;
    Ok(HttpResponse::Ok().json(TemplateView::from(row)))
}

/// Render a template with variables and count its segments.
#[utoipa::path(post, path = "/api/messaging/templates/preview", tag = "templates", request_body = PreviewRequest, security(("bearer" = [])),
    responses((status = 200, body = PreviewView), (status = 422, description = "invalid_template or invalid_field")))]
#[tracing::instrument(skip_all, fields(org = %tenant.org_id()))]
pub async fn preview_template(
    tenant: Tenant,
    body: Json<PreviewRequest>,
) -> Result<HttpResponse, ApiError> {
    let _ = tenant.org_id();
    let b = body.into_inner();
    let p = templates::preview(&b.body, &b.variables)?;
    Ok(HttpResponse::Ok().json(PreviewView {
        text: p.text,
        encoding: p.segments.encoding.as_str().into(),
        units: p.segments.units,
        segments: p.segments.segments,
        variables: p.variables,
    }))
}
