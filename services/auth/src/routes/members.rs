//! Members and invitations. Every route but `accept` names the org in its path and must be the
//! token's org: another org's id answers 404, as if it did not exist.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use servicekit::page::Page;
use servicekit::{ApiError, Json};
use tenancy::{Aal1Tenant, OrgId, Role, Tenant, UserId};
use uuid::Uuid;

use crate::core::members::{self, Actor};
use crate::core::orgs::same_org;
use crate::core::step_up;
use crate::routes::problem::{assurance, origin};
use crate::state::AppState;
use crate::store::invitations::Invitation;
use crate::store::members::Member;
use crate::store::status::MembershipStatus;

/// A member of the org.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MemberView {
    #[schema(value_type = Uuid)]
    pub user_id: UserId,
    pub email: String,
    pub display_name: Option<String>,
    pub role: Role,
    pub status: MembershipStatus,
    pub member_since: DateTime<Utc>,
}

impl From<Member> for MemberView {
    fn from(m: Member) -> Self {
        MemberView {
            user_id: m.user_id,
            email: m.email,
            display_name: m.display_name,
            role: m.role,
            status: m.status,
            member_since: m.since,
        }
    }
}

/// A member's new role.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RoleChanged {
    #[schema(value_type = Uuid)]
    pub user_id: UserId,
    pub role: Role,
}

/// An invitation of the org.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InvitationView {
    pub id: Uuid,
    pub email: String,
    pub role: Role,
    /// `pending`, `accepted`, `revoked` or `expired`.
    pub status: &'static str,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    #[schema(value_type = Option<Uuid>)]
    pub invited_by: Option<UserId>,
}

/// A new invitation with its token (shown once).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InvitedView {
    #[serde(flatten)]
    pub invitation: InvitationView,
    pub token: String,
}

/// The org joined and the role in it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Joined {
    #[schema(value_type = Uuid)]
    pub org_id: OrgId,
    pub role: Role,
}

fn role_field(raw: &str) -> Result<Role, ApiError> {
    Role::parse(raw).ok_or_else(|| {
        ApiError::invalid(
            "invalid_field",
            Some("role"),
            "role must be owner, admin, staff or viewer",
        )
    })
}

fn actor(t: &Tenant) -> Actor {
    Actor {
        user: t.user_id(),
        role: t.role(),
    }
}

#[utoipa::path(get, path = "/api/orgs/{id}/members", operation_id = "list_members", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the caller's org")),
    responses((status = 200, description = "every member, oldest first (one page: `next_cursor` is null)", body = Page<MemberView>),
              (status = 404, description = "not the token's org")))]
pub async fn list_members(
    st: web::Data<AppState>,
    tenant: Tenant,
    id: web::Path<OrgId>,
) -> Result<HttpResponse, ApiError> {
    let org = same_org(tenant.org_id(), id.into_inner())?;
    let rows = members::list(&st, org).await?;
    Ok(HttpResponse::Ok().json(Page {
        items: rows.into_iter().map(MemberView::from).collect(),
        next_cursor: None,
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeRole {
    pub role: String,
}

#[utoipa::path(patch, path = "/api/orgs/{id}/members/{user_id}", operation_id = "change_member_role", security(("bearer" = [])), request_body = ChangeRole,
    params(("id" = Uuid, Path, description = "the caller's org"), ("user_id" = Uuid, Path, description = "a member")),
    responses((status = 200, description = "changed; the member's sessions in the org ended", body = RoleChanged),
              (status = 403, description = "insufficient_role; aal2_required (the caller enrolled a factor) or reauthentication_needed (no sign-in within the step-up window)"),
              (status = 404, description = "not the token's org, or not a member"),
              (status = 409, description = "last_owner"),
              (status = 422, description = "invalid_field: an unknown role")))]
pub async fn change_role(
    st: web::Data<AppState>,
    req: HttpRequest,
    tenant: Tenant,
    path: web::Path<(OrgId, UserId)>,
    body: Json<ChangeRole>,
) -> Result<HttpResponse, ApiError> {
    let (id, member) = path.into_inner();
    let org = same_org(tenant.org_id(), id)?;
    tenant.require(Role::Admin)?;
    let to = role_field(&body.role)?;
    step_up::require(&st, &assurance(&tenant)).await?;
    let origin = origin(&req, st.settings.trust_forwarded_for);
    members::change_role(&st, org, actor(&tenant), member, to, &origin).await?;
    Ok(HttpResponse::Ok().json(RoleChanged {
        user_id: member,
        role: to,
    }))
}

#[utoipa::path(delete, path = "/api/orgs/{id}/members/{user_id}", operation_id = "remove_member", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the caller's org"), ("user_id" = Uuid, Path, description = "a member (the caller, to leave)")),
    responses((status = 204, description = "removed; the member's sessions in the org ended"),
              (status = 403, description = "insufficient_role"),
              (status = 404, description = "not the token's org, or not a member"),
              (status = 409, description = "last_owner")))]
pub async fn remove_member(
    st: web::Data<AppState>,
    req: HttpRequest,
    tenant: Tenant,
    path: web::Path<(OrgId, UserId)>,
) -> Result<HttpResponse, ApiError> {
    let (id, member) = path.into_inner();
    let org = same_org(tenant.org_id(), id)?;
    if member != tenant.user_id() {
        tenant.require(Role::Admin)?;
    }
    let origin = origin(&req, st.settings.trust_forwarded_for);
    members::remove(&st, org, actor(&tenant), member, &origin).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Invite {
    pub email: String,
    pub role: String,
}

impl From<Invitation> for InvitationView {
    fn from(i: Invitation) -> Self {
        let status = if i.accepted_at.is_some() {
            "accepted"
        } else if i.revoked_at.is_some() {
            "revoked"
        } else if i.expires_at <= Utc::now() {
            "expired"
        } else {
            "pending"
        };
        InvitationView {
            id: i.id,
            email: i.email,
            role: i.role,
            status,
            created_at: i.created_at,
            expires_at: i.expires_at,
            invited_by: i.invited_by,
        }
    }
}

/// Invites an email with a role no higher than the inviter's. The token is in the answer once
/// and in the mail; only its hash is stored.
#[utoipa::path(post, path = "/api/orgs/{id}/invitations", operation_id = "invite_member", security(("bearer" = [])), request_body = Invite,
    params(("id" = Uuid, Path, description = "the caller's org")),
    responses((status = 201, description = "invited; the mail is queued", body = InvitedView),
              (status = 403, description = "insufficient_role (admins; a role up to the inviter's)"),
              (status = 404, description = "not the token's org"),
              (status = 422, description = "invalid_field: email or role")))]
pub async fn invite(
    st: web::Data<AppState>,
    req: HttpRequest,
    tenant: Tenant,
    id: web::Path<OrgId>,
    body: Json<Invite>,
) -> Result<HttpResponse, ApiError> {
    let org = same_org(tenant.org_id(), id.into_inner())?;
    tenant.require(Role::Admin)?;
    let body = body.into_inner();
    let role = role_field(&body.role)?;
    let origin = origin(&req, st.settings.trust_forwarded_for);
    let (inv, token) =
        members::invite(&st, org, actor(&tenant), &body.email, role, &origin).await?;
    Ok(HttpResponse::Created()
        .insert_header(("Cache-Control", "no-store"))
        .json(InvitedView {
            invitation: InvitationView::from(inv),
            token,
        }))
}

#[utoipa::path(get, path = "/api/orgs/{id}/invitations", operation_id = "list_invitations", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the caller's org")),
    responses((status = 200, description = "every invitation, newest first (one page: `next_cursor` is null)", body = Page<InvitationView>),
              (status = 403, description = "insufficient_role: admins and owners only"),
              (status = 404, description = "not the token's org")))]
pub async fn list_invitations(
    st: web::Data<AppState>,
    tenant: Tenant,
    id: web::Path<OrgId>,
) -> Result<HttpResponse, ApiError> {
    let org = same_org(tenant.org_id(), id.into_inner())?;
    tenant.require(Role::Admin)?;
    let rows = members::list_invitations(&st, org).await?;
    Ok(HttpResponse::Ok().json(Page {
        items: rows.into_iter().map(InvitationView::from).collect(),
        next_cursor: None,
    }))
}

#[utoipa::path(delete, path = "/api/orgs/{id}/invitations/{invitation_id}", operation_id = "revoke_invitation", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the caller's org"), ("invitation_id" = Uuid, Path, description = "a pending invitation")),
    responses((status = 204, description = "revoked"),
              (status = 403, description = "insufficient_role: admins and owners only"),
              (status = 404, description = "not the token's org, or no pending invitation")))]
pub async fn revoke_invitation(
    st: web::Data<AppState>,
    req: HttpRequest,
    tenant: Tenant,
    path: web::Path<(OrgId, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (id, inv) = path.into_inner();
    let org = same_org(tenant.org_id(), id)?;
    tenant.require(Role::Admin)?;
    let origin = origin(&req, st.settings.trust_forwarded_for);
    members::revoke_invitation(&st, org, tenant.user_id(), inv, &origin).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Accept {
    pub token: String,
}

/// The invited user (logged in with the invited email) joins the org; a refresh with `org_id`
/// then switches to it.
#[utoipa::path(post, path = "/api/orgs/invitations/accept", operation_id = "accept_invitation", security(("bearer" = [])), request_body = Accept,
    responses((status = 200, description = "joined", body = Joined),
              (status = 403, description = "invitation_email_mismatch"),
              (status = 404, description = "no such invitation"),
              (status = 409, description = "invitation_not_pending or already_member")))]
pub async fn accept(
    st: web::Data<AppState>,
    req: HttpRequest,
    tenant: Aal1Tenant,
    body: Json<Accept>,
) -> Result<HttpResponse, ApiError> {
    let tenant = tenant.0;
    let email = tenant.claims().email.clone().unwrap_or_default();
    let origin = origin(&req, st.settings.trust_forwarded_for);
    let (org, role) = members::accept(&st, tenant.user_id(), &email, &body.token, &origin).await?;
    Ok(HttpResponse::Ok().json(Joined { org_id: org, role }))
}
