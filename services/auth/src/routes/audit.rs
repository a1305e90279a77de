//! `GET /api/auth/audit`: the org's audit log for admins and owners, newest first, one page at
//! a time (`servicekit::page`); `GET /api/auth/user/security-events`: the caller's own failed
//! logins and other events about them; `GET /api/orgs/{id}/security-events`: the members'
//! failed logins, for admins of an org that shares them.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use servicekit::ApiError;
use servicekit::page::{Page, PageRequest};
use tenancy::{Aal1Tenant, OrgId, Role, Tenant, UserId};

use crate::core::audit::{self, Narrowing};
use crate::core::orgs::same_org;
use crate::core::step_up;
use crate::routes::problem::assurance;
use crate::state::AppState;
use crate::store::audit::Entry;
use crate::store::security_events::SecurityEvent;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Items per page, 1–200 (default 50).
    pub limit: Option<i64>,
}

/// The caller's own security events (failed logins with IP and user agent, lockouts, password
/// resets asked for their email, …), newest first. Recorded once per event, for the user, and
/// never copied into the user's orgs.
#[utoipa::path(get, path = "/api/auth/user/security-events", operation_id = "list_own_security_events", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, description = "one page of the caller's security events, newest first", body = Page<SecurityEvent>),
              (status = 422, description = "invalid_query: a cursor this API did not issue, or a limit out of 1–200"),
              (status = 403, description = "mfa_required: the caller enrolled a factor and this session has not verified it")))]
pub async fn own_security_events(
    st: web::Data<AppState>,
    Aal1Tenant(tenant): Aal1Tenant,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    step_up::require_aal2_if_enrolled(&st, &assurance(&tenant)).await?;
    let q = q.into_inner();
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    let page = audit::own_security_events(&st, tenant.user_id(), page).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Failed logins and lockouts of the org's active members (since they joined), newest first:
/// admins and owners, and only when the org shares them (`PATCH /api/orgs/{id}
/// {share_member_login_failures: true}`).
#[utoipa::path(get, path = "/api/orgs/{id}/security-events", operation_id = "list_member_security_events", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the caller's org"), PageQuery),
    responses((status = 200, description = "one page of the members' failed logins, newest first", body = Page<SecurityEvent>),
              (status = 422, description = "invalid_query: a cursor this API did not issue, or a limit out of 1–200"),
              (status = 403, description = "insufficient_role: admins and owners only; login_failures_not_shared: the org's policy keeps them with each member"),
              (status = 404, description = "not the token's org")))]
pub async fn member_security_events(
    st: web::Data<AppState>,
    tenant: Tenant,
    id: web::Path<OrgId>,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let org = same_org(tenant.org_id(), id.into_inner())?;
    tenant.require(Role::Admin)?;
    let q = q.into_inner();
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    let page = audit::member_security_events(&st, org, page).await?;
    Ok(HttpResponse::Ok().json(page))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    pub action: Option<String>,
    #[param(value_type = Option<Uuid>)]
    pub actor: Option<UserId>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Items per page, 1–200 (default 50).
    pub limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/auth/audit", operation_id = "list_audit_log", security(("bearer" = [])), params(AuditQuery),
    responses((status = 200, description = "one page of the org's audit log, newest first", body = Page<Entry>),
              (status = 403, description = "insufficient_role: admins and owners only")))]
pub async fn list(
    st: web::Data<AppState>,
    tenant: Tenant,
    q: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    tenant.require(Role::Admin)?;
    let q = q.into_inner();
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    let narrowing = Narrowing {
        action: q.action,
        actor: q.actor,
        from: q.from,
        to: q.to,
    };
    let page = audit::list(&st, tenant.org_id(), narrowing, page).await?;
    Ok(HttpResponse::Ok().json(page))
}
