//! Organizations: mine, create, one, the validate endpoint other parts of the product use, the
//! security policy, and deleting an org (scheduled, cancellable: ADR 0011).

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use servicekit::page::Page;
use servicekit::{ApiError, Json};
use tenancy::{OrgId, Role, Tenant};

use crate::core::orgs::{self, PolicyChange};
use crate::core::step_up;
use crate::routes::problem::{assurance, origin, present};
use crate::state::AppState;

/// An org the caller belongs to.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MyOrg {
    #[schema(value_type = Uuid)]
    pub id: OrgId,
    pub name: String,
    pub timezone: String,
    pub role: Role,
    /// The org the token acts in.
    pub current: bool,
}

/// A new org.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedOrg {
    #[schema(value_type = Uuid)]
    pub id: OrgId,
    pub name: String,
    pub timezone: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

/// An org with its security policy.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OrgView {
    #[schema(value_type = Uuid)]
    pub id: OrgId,
    pub name: String,
    pub timezone: String,
    pub role: Role,
    pub require_mfa: bool,
    pub session_lifetime_secs: Option<i32>,
    pub inactivity_timeout_secs: Option<i32>,
    /// Admins may read the members' failed logins (`GET /api/orgs/{id}/security-events`).
    pub share_member_login_failures: bool,
    pub created_at: DateTime<Utc>,
    /// When an owner scheduled the org's deletion (`null`: none scheduled).
    pub deletion_scheduled_at: Option<DateTime<Utc>>,
    /// When the scheduled deletion executes unless an owner cancels it first
    /// (`DELETE /api/orgs/{id}/deletion`).
    pub deletes_at: Option<DateTime<Utc>>,
}

/// A scheduled deletion: nothing is deleted before `deletes_at`, and an owner can cancel it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeletionScheduled {
    #[schema(value_type = Uuid)]
    pub id: OrgId,
    pub deletion_scheduled_at: DateTime<Utc>,
    pub deletes_at: DateTime<Utc>,
}

/// The token is for this org and the membership is active.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Validation {
    pub valid: bool,
    #[schema(value_type = Uuid)]
    pub org_id: OrgId,
    pub role: Role,
}

/// The policy changed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PolicyUpdated {
    #[schema(value_type = Uuid)]
    pub id: OrgId,
    pub updated: bool,
}

/// Every org the caller belongs to, oldest membership first (one page: `next_cursor` is null).
#[utoipa::path(get, path = "/api/orgs", operation_id = "list_my_orgs", security(("bearer" = [])),
    responses((status = 200, description = "the caller's orgs", body = Page<MyOrg>)))]
pub async fn mine(st: web::Data<AppState>, tenant: Tenant) -> Result<HttpResponse, ApiError> {
    let ms = orgs::mine(&st, tenant.user_id()).await?;
    let current = tenant.org_id();
    Ok(HttpResponse::Ok().json(Page {
        items: ms
            .into_iter()
            .map(|(m, o)| MyOrg {
                current: o.id == current,
                id: o.id,
                name: o.name,
                timezone: o.timezone,
                role: m.role,
            })
            .collect(),
        next_cursor: None,
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrg {
    pub name: String,
    pub timezone: String,
}

/// Creates an org owned by the caller; refresh with `org_id` to switch to it.
#[utoipa::path(post, path = "/api/orgs", operation_id = "create_org", security(("bearer" = [])), request_body = CreateOrg,
    responses((status = 201, description = "the new org, owned by the caller", body = CreatedOrg),
              (status = 422, description = "invalid_field: org_name or timezone")))]
pub async fn create(
    st: web::Data<AppState>,
    req: HttpRequest,
    tenant: Tenant,
    body: Json<CreateOrg>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let origin = origin(&req, st.settings.trust_forwarded_for);
    let org = orgs::create(&st, tenant.user_id(), &body.name, body.timezone, &origin).await?;
    Ok(HttpResponse::Created().json(CreatedOrg {
        id: org.id,
        name: org.name,
        timezone: org.timezone,
        role: Role::Owner,
        created_at: org.created_at,
    }))
}

/// An org the caller belongs to; any other id is 404, whether it exists or not.
#[utoipa::path(get, path = "/api/orgs/{id}", operation_id = "get_org", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "an org id")),
    responses((status = 200, description = "the org", body = OrgView),
              (status = 400, description = "invalid_org_id: not a UUID"),
              (status = 404, description = "not an org of the caller")))]
pub async fn get(
    st: web::Data<AppState>,
    tenant: Tenant,
    id: web::Path<OrgId>,
) -> Result<HttpResponse, ApiError> {
    let (m, o) = orgs::get(&st, tenant.user_id(), id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(OrgView {
        id: o.id,
        name: o.name,
        timezone: o.timezone,
        role: m.role,
        require_mfa: o.require_mfa,
        session_lifetime_secs: o.session_lifetime_secs,
        inactivity_timeout_secs: o.inactivity_timeout_secs,
        share_member_login_failures: o.share_member_login_failures,
        created_at: o.created_at,
        deletion_scheduled_at: o.deletion_scheduled_at,
        deletes_at: o.deletes_at,
    }))
}

/// 200 when the token's org is `orgId` and the caller's membership there is active; 403 for
/// another org (or a membership that ended); 400 for a malformed id.
#[utoipa::path(get, path = "/api/orgs/validate/{orgId}", operation_id = "validate_org", security(("bearer" = [])),
    params(("orgId" = Uuid, Path, description = "the org the token should be for")),
    responses((status = 200, description = "valid", body = Validation),
              (status = 400, description = "invalid_org_id: not a UUID"),
              (status = 403, description = "org_mismatch")))]
pub async fn validate(
    st: web::Data<AppState>,
    tenant: Tenant,
    org_id: web::Path<OrgId>,
) -> Result<HttpResponse, ApiError> {
    let id = org_id.into_inner();
    let role = orgs::validate(&st, tenant.org_id(), tenant.user_id(), id).await?;
    Ok(HttpResponse::Ok().json(Validation {
        valid: true,
        org_id: id,
        role,
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePolicy {
    pub require_mfa: Option<bool>,
    /// Absolute session lifetime in seconds (`null`: the service default).
    #[serde(default, deserialize_with = "present")]
    pub session_lifetime_secs: Option<Option<i32>>,
    /// Sessions not refreshed for this long end (`null`: no inactivity timeout).
    #[serde(default, deserialize_with = "present")]
    pub inactivity_timeout_secs: Option<Option<i32>>,
    /// Let the org's admins and owners read their members' failed logins and lockouts
    /// (`GET /api/orgs/{id}/security-events`; default false: only the member sees them).
    pub share_member_login_failures: Option<bool>,
}

/// The org's security policy (admins and owners of that org). Members' tokens carry the new
/// policy from their next refresh.
#[utoipa::path(patch, path = "/api/orgs/{id}", operation_id = "update_org_policy", security(("bearer" = [])), request_body = UpdatePolicy,
    params(("id" = Uuid, Path, description = "the caller's org")),
    responses((status = 200, description = "changed", body = PolicyUpdated),
              (status = 400, description = "invalid_org_id: not a UUID"),
              (status = 403, description = "insufficient_role: admins and owners only"),
              (status = 404, description = "not the token's org"),
              (status = 422, description = "invalid_field: a lifetime or timeout out of range")))]
pub async fn update(
    st: web::Data<AppState>,
    req: HttpRequest,
    tenant: Tenant,
    id: web::Path<OrgId>,
    body: Json<UpdatePolicy>,
) -> Result<HttpResponse, ApiError> {
    let org = orgs::same_org(tenant.org_id(), id.into_inner())?;
    tenant.require(Role::Admin)?;
    let b = body.into_inner();
    let origin = origin(&req, st.settings.trust_forwarded_for);
    orgs::update_policy(
        &st,
        org,
        tenant.user_id(),
        PolicyChange {
            require_mfa: b.require_mfa,
            session_lifetime_secs: b.session_lifetime_secs,
            inactivity_timeout_secs: b.inactivity_timeout_secs,
            share_member_login_failures: b.share_member_login_failures,
        },
        &origin,
    )
    .await?;
    Ok(HttpResponse::Ok().json(PolicyUpdated {
        id: org,
        updated: true,
    }))
}

/// Schedules the org's deletion (owner only). Nothing is deleted now: members keep working
/// until `deletes_at` (72 hours by default, `AUTH_ORG_DELETION_GRACE_SECS`), an owner can cancel
/// until then, and `GET /api/orgs/{id}` shows the schedule. When it is due the org disappears
/// for every member, every session that carries it ends, and `org.deleted.v1` tells every
/// service to purge its data; the audit log stays. Asking again while a deletion is pending
/// answers the pending schedule.
#[utoipa::path(delete, path = "/api/orgs/{id}", operation_id = "delete_org", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the caller's org")),
    responses((status = 202, description = "deletion scheduled", body = DeletionScheduled),
              (status = 400, description = "invalid_org_id: not a UUID"),
              (status = 403, description = "insufficient_role: owners only; aal2_required (the caller enrolled a factor) or reauthentication_needed (no sign-in within the step-up window)"),
              (status = 404, description = "not the token's org")))]
pub async fn delete(
    st: web::Data<AppState>,
    req: HttpRequest,
    tenant: Tenant,
    id: web::Path<OrgId>,
) -> Result<HttpResponse, ApiError> {
    let org = orgs::same_org(tenant.org_id(), id.into_inner())?;
    tenant.require(Role::Owner)?;
    step_up::require(&st, &assurance(&tenant)).await?;
    let origin = origin(&req, st.settings.trust_forwarded_for);
    let schedule = orgs::schedule_deletion(&st, org, tenant.user_id(), &origin).await?;
    Ok(HttpResponse::Accepted().json(DeletionScheduled {
        id: org,
        deletion_scheduled_at: schedule.scheduled_at,
        deletes_at: schedule.deletes_at,
    }))
}

/// Cancels the org's scheduled deletion (owner only); audited.
#[utoipa::path(delete, path = "/api/orgs/{id}/deletion", operation_id = "cancel_org_deletion", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the caller's org")),
    responses((status = 204, description = "the deletion is cancelled; the org stays"),
              (status = 400, description = "invalid_org_id: not a UUID"),
              (status = 403, description = "insufficient_role: owners only"),
              (status = 404, description = "not the token's org"),
              (status = 409, description = "deletion_not_scheduled")))]
pub async fn cancel_deletion(
    st: web::Data<AppState>,
    req: HttpRequest,
    tenant: Tenant,
    id: web::Path<OrgId>,
) -> Result<HttpResponse, ApiError> {
    let org = orgs::same_org(tenant.org_id(), id.into_inner())?;
    tenant.require(Role::Owner)?;
    let origin = origin(&req, st.settings.trust_forwarded_for);
    orgs::cancel_deletion(&st, org, Some(tenant.user_id()), &origin).await?;
    Ok(HttpResponse::NoContent().finish())
}
