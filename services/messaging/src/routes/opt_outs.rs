//! `/api/messaging/opt-outs`: numbers that get no texts. Listed for any role; admins add and
//! remove numbers by hand; every change (keyword, Twilio 21610, admin) is in the audit.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use servicekit::page::{PageQuery, PageRequest};
use servicekit::{ApiError, Json};
use tenancy::{Role, Tenant};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::core::opt_outs;
use crate::state::AppState;
use crate::store::opt_outs::{AuditRow, OptOutRow};

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OptOutView {
    pub phone: String,
    /// `keyword`, `twilio_21610` or `admin`.
    pub source: String,
    pub keyword: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<OptOutRow> for OptOutView {
    fn from(r: OptOutRow) -> Self {
        OptOutView {
            phone: r.phone,
            source: r.source,
            keyword: r.keyword,
            created_at: r.created_at,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OptOutPage {
    pub items: Vec<OptOutView>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OptOutAuditView {
    pub phone: String,
    /// `opt_out` or `opt_in`.
    pub action: String,
    pub source: String,
    pub keyword: Option<String>,
    pub actor_user_id: Option<Uuid>,
    pub at: DateTime<Utc>,
}

impl From<AuditRow> for OptOutAuditView {
    fn from(r: AuditRow) -> Self {
        OptOutAuditView {
            phone: r.phone,
            action: r.action,
            source: r.source,
            keyword: r.keyword,
            actor_user_id: r.actor_user_id,
            at: r.at,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OptOutAuditList {
    pub items: Vec<OptOutAuditView>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddOptOutRequest {
    /// E.164.
    pub phone: String,
}

/// Opted-out numbers, newest first.
#[utoipa::path(get, path = "/api/messaging/opt-outs", tag = "opt-outs", params(PageQuery), security(("bearer" = [])),
    responses((status = 200, body = OptOutPage), (status = 422, description = "invalid_query")))]
#[tracing::instrument(skip_all, fields(org = %tenant.org_id()))]
pub async fn list_opt_outs(
    st: web::Data<AppState>,
    tenant: Tenant,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = PageRequest::from_query(&q)?;
    let rows = opt_outs::list(
        &st,
        tenant.org_id(),
        page.after.map(|a| a.0),
        page.fetch_limit(),
    )
    .await?;
    let page = page.page(rows, |r| (r.created_at, Uuid::nil()), OptOutView::from);
    Ok(HttpResponse::Ok().json(OptOutPage {
        items: page.items,
        next_cursor: page.next_cursor,
    }))
}

/// Opt a number out by hand (admins).
#[utoipa::path(post, path = "/api/messaging/opt-outs", tag = "opt-outs", request_body = AddOptOutRequest, security(("bearer" = [])),
    responses((status = 201, description = "opted out"), (status = 200, description = "was already opted out"),
        (status = 422, description = "invalid_field")))]
#[tracing::instrument(skip_all, fields(org = %tenant.org_id()))]
pub async fn add_opt_out(
    st: web::Data<AppState>,
    tenant: Tenant,
    body: Json<AddOptOutRequest>,
) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Admin)?;
    let added = opt_outs::add(
        &st,
        tenant.org_id(),
        tenant.user_id(),
        body.into_inner().phone,
    )
    .await?;
    Ok(if added {
        HttpResponse::Created().finish()
    } else {
        HttpResponse::Ok().finish()
    })
}

/// Opt a number back in by hand (admins).
#[utoipa::path(delete, path = "/api/messaging/opt-outs/{phone}", tag = "opt-outs",
    params(("phone" = String, Path, description = "E.164")), security(("bearer" = [])),
    responses((status = 204, description = "removed"), (status = 404, description = "not opted out"), (status = 422, description = "invalid_field")))]
#[tracing::instrument(skip_all, fields(org = %tenant.org_id()))]
pub async fn remove_opt_out(
    st: web::Data<AppState>,
    tenant: Tenant,
    phone: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Admin)?;
    opt_outs::remove(&st, tenant.org_id(), tenant.user_id(), phone.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Every opt-out and opt-in of a number (admins).
#[utoipa::path(get, path = "/api/messaging/opt-outs/{phone}/audit", tag = "opt-outs",
    params(("phone" = String, Path, description = "E.164")), security(("bearer" = [])),
    responses((status = 200, body = OptOutAuditList), (status = 422, description = "invalid_field")))]
#[tracing::instrument(skip_all, fields(org = %tenant.org_id()))]
pub async fn opt_out_audit(
    st: web::Data<AppState>,
    tenant: Tenant,
    phone: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Admin)?;
    let rows = opt_outs::audit(&st, tenant.org_id(), phone.into_inner()).await?;
    Ok(HttpResponse::Ok().json(OptOutAuditList {
        items: rows.into_iter().map(OptOutAuditView::from).collect(),
    }))
}
