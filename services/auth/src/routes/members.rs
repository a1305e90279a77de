//! Members, invitations and deleting an org. Every route names the org in its path and must be
//! the token's org: another org's id answers 404, as if it did not exist.

use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::Utc;
use events::OrgDeletedV1;
use serde::Deserialize;
use serde_json::json;
use servicekit::{ApiError, Json};
use tenancy::{OrgId, Role, Tenant};
use uuid::Uuid;

use crate::domain::email;
use crate::routes::origin;
use crate::state::AppState;
use crate::store::audit;
use crate::store::members::{self, Invitation};
use crate::tokens::parse_role;

fn same_org(tenant: &Tenant, id: Uuid) -> Result<OrgId, ApiError> {
    if tenant.org_id().0 == id {
        Ok(tenant.org_id())
    } else {
        Err(ApiError::not_found("organization"))
    }
}

fn role_field(raw: &str) -> Result<Role, ApiError> {
    parse_role(raw).ok_or_else(|| {
        ApiError::invalid(
            "invalid_field",
            Some("role"),
            "role must be owner, admin, staff or viewer",
        )
    })
}

pub fn token_hash(token: &str) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, token.as_bytes())
        .as_ref()
        .to_vec()
}

#[utoipa::path(get, path = "/api/orgs/{id}/members", responses((status = 200), (status = 404)))]
#[get("/api/orgs/{id}/members")]
pub async fn list_members(
    st: web::Data<AppState>,
    tenant: Tenant,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let org = same_org(&tenant, id.into_inner())?;
    let rows = st
        .db
        .tenant_tx(org, |c| {
            Box::pin(async move { Ok::<_, ApiError>(members::members(c, org.0).await?) })
        })
        .await?;
    let items: Vec<_> = rows
        .into_iter()
        .map(|(id, email, name, role, status, since)| json!({"user_id": id, "email": email, "display_name": name, "role": role, "status": status, "member_since": since}))
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeRole {
    pub role: String,
}

#[utoipa::path(patch, path = "/api/orgs/{id}/members/{user_id}", request_body = ChangeRole, responses((status = 200), (status = 403), (status = 404), (status = 409)))]
#[patch("/api/orgs/{id}/members/{user_id}")]
pub async fn change_role(
    st: web::Data<AppState>,
    req: HttpRequest,
    tenant: Tenant,
    path: web::Path<(Uuid, Uuid)>,
    body: Json<ChangeRole>,
) -> Result<HttpResponse, ApiError> {
    let (id, member) = path.into_inner();
    let org = same_org(&tenant, id)?;
    tenant.require(Role::Admin)?;
    let new_role = role_field(&body.role)?;
    let actor_role = tenant.role();
    let actor = tenant.user_id().0;
    let origin = origin(&req, st.settings.trust_forwarded_for);
    let revoked = st
        .db
        .tenant_tx(org, |c| {
            Box::pin(async move {
                let current = members::member_role(c, org.0, member)
                    .await?
                    .ok_or_else(|| ApiError::not_found("member"))?;
                let current = role_field(&current)?;
                if (current == Role::Owner || new_role == Role::Owner) && actor_role != Role::Owner
                {
                    return Err(ApiError::forbidden(
                        "insufficient_role",
                        "only an owner can grant or take the owner role",
                    ));
                }
                if current == Role::Owner
                    && new_role != Role::Owner
                    && members::owner_count(c, org.0).await? <= 1
                {
                    return Err(ApiError::Conflict {
                        code: "last_owner",
                        detail: "an organization always keeps an owner".into(),
                        extra: None,
                    });
                }
                let role_s = serde_json::to_value(new_role)
                    .map_err(ApiError::internal)?
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                members::set_role(c, org.0, member, &role_s).await?;
                // Tokens carry the role: the member's sessions in this org get new tokens by logging in again.
                let revoked =
                    members::revoke_sessions_in_org(c, org.0, Some(member), "role_changed").await?;
                audit::record(
                    c,
                    org.0,
                    Some(actor),
                    "member.role_changed",
                    Some(member.to_string()),
                    json!({"from": current, "to": new_role}),
                    &origin,
                )
                .await?;
                Ok::<_, ApiError>(revoked)
            })
        })
        .await?;
    st.publish_revocations(&revoked).await?;
    Ok(HttpResponse::Ok().json(json!({"user_id": member, "role": new_role})))
}

#[utoipa::path(delete, path = "/api/orgs/{id}/members/{user_id}", responses((status = 204), (status = 403), (status = 404), (status = 409)))]
#[delete("/api/orgs/{id}/members/{user_id}")]
pub async fn remove_member(
    st: web::Data<AppState>,
    req: HttpRequest,
    tenant: Tenant,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (id, member) = path.into_inner();
    let org = same_org(&tenant, id)?;
    let actor = tenant.user_id().0;
    if member != actor {
        tenant.require(Role::Admin)?;
    }
    let actor_role = tenant.role();
    let origin = origin(&req, st.settings.trust_forwarded_for);
    let revoked = st
        .db
        .tenant_tx(org, |c| {
            Box::pin(async move {
                let current = members::member_role(c, org.0, member)
                    .await?
                    .ok_or_else(|| ApiError::not_found("member"))?;
                if current == "owner" {
                    if actor_role != Role::Owner {
                        return Err(ApiError::forbidden(
                            "insufficient_role",
                            "only an owner can remove an owner",
                        ));
                    }
                    if members::owner_count(c, org.0).await? <= 1 {
                        return Err(ApiError::Conflict {
                            code: "last_owner",
                            detail: "an organization always keeps an owner".into(),
                            extra: None,
                        });
                    }
                }
                members::remove_member(c, org.0, member).await?;
                let revoked =
                    members::revoke_sessions_in_org(c, org.0, Some(member), "member_removed")
                        .await?;
                audit::record(
                    c,
                    org.0,
                    Some(actor),
                    "member.removed",
                    Some(member.to_string()),
                    json!({"role": current}),
                    &origin,
                )
                .await?;
                Ok::<_, ApiError>(revoked)
            })
        })
        .await?;
    st.publish_revocations(&revoked).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Invite {
    pub email: String,
    pub role: String,
}

fn invitation_view(i: &Invitation) -> serde_json::Value {
    let status = if i.accepted_at.is_some() {
        "accepted"
    } else if i.revoked_at.is_some() {
        "revoked"
    } else if i.expires_at <= Utc::now() {
        "expired"
    } else {
        "pending"
    };
    json!({"id": i.id, "email": i.email, "role": i.role, "status": status, "created_at": i.created_at, "expires_at": i.expires_at, "invited_by": i.invited_by})
}

/// Invites an email with a role no higher than the inviter's. The token is in the answer once
/// and in the mail; only its hash is stored.
#[utoipa::path(post, path = "/api/orgs/{id}/invitations", request_body = Invite, responses((status = 201), (status = 403)))]
#[post("/api/orgs/{id}/invitations")]
pub async fn invite(
    st: web::Data<AppState>,
    req: HttpRequest,
    tenant: Tenant,
    id: web::Path<Uuid>,
    body: Json<Invite>,
) -> Result<HttpResponse, ApiError> {
    let org = same_org(&tenant, id.into_inner())?;
    tenant.require(Role::Admin)?;
    let body = body.into_inner();
    let role = role_field(&body.role)?;
    if !tenant.role().at_least(role) {
        return Err(ApiError::forbidden(
            "insufficient_role",
            "you can only invite with a role up to your own",
        ));
    }
    let (mail, normalized) = email::parse(&body.email)
        .map_err(|m| ApiError::invalid("invalid_field", Some("email"), m))?;
    let mut raw = org.0.as_bytes().to_vec();
    raw.extend_from_slice(&rand::random::<[u8; 32]>());
    let token = B64.encode(raw);
    let inv = Invitation {
        id: Uuid::new_v4(),
        org_id: org.0,
        email: mail.clone(),
        email_normalized: normalized,
        role: body.role.clone(),
        token_hash: token_hash(&token),
        invited_by: Some(tenant.user_id().0),
        created_at: Utc::now(),
        expires_at: Utc::now()
            + chrono::Duration::from_std(st.settings.invitation_ttl)
                .unwrap_or(chrono::Duration::days(7)),
        accepted_at: None,
        accepted_by: None,
        revoked_at: None,
    };
    let link = format!("{}/accept-invitation#token={token}", st.settings.public_url);
    let origin = origin(&req, st.settings.trust_forwarded_for);
    let (inv2, actor) = (inv.clone(), tenant.user_id().0);
    st.db
        .tenant_tx(org, |c| Box::pin(async move {
            members::insert_invitation(c, &inv2).await?;
            members::queue_mail(c, &inv2.email, "invitation", "You are invited to Voxanne", &format!("You have been invited to join an organization on Voxanne as {}.\n\nAccept: {link}\n\nThe link expires at {}.", inv2.role, inv2.expires_at)).await?;
            audit::record(c, org.0, Some(actor), "invitation.sent", Some(inv2.id.to_string()), json!({"role": inv2.role}), &origin).await?;
            Ok::<_, ApiError>(())
        }))
        .await?;
    let mut view = invitation_view(&inv);
    view["token"] = json!(token);
    Ok(HttpResponse::Created()
        .insert_header(("Cache-Control", "no-store"))
        .json(view))
}

#[utoipa::path(get, path = "/api/orgs/{id}/invitations", responses((status = 200), (status = 403), (status = 404)))]
#[get("/api/orgs/{id}/invitations")]
pub async fn list_invitations(
    st: web::Data<AppState>,
    tenant: Tenant,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let org = same_org(&tenant, id.into_inner())?;
    tenant.require(Role::Admin)?;
    let rows = st
        .db
        .tenant_tx(org, |c| {
            Box::pin(async move { Ok::<_, ApiError>(members::invitations_of(c, org.0).await?) })
        })
        .await?;
    Ok(HttpResponse::Ok()
        .json(json!({"items": rows.iter().map(invitation_view).collect::<Vec<_>>()})))
}

#[utoipa::path(delete, path = "/api/orgs/{id}/invitations/{invitation_id}", responses((status = 204), (status = 404)))]
#[delete("/api/orgs/{id}/invitations/{invitation_id}")]
pub async fn revoke_invitation(
    st: web::Data<AppState>,
    req: HttpRequest,
    tenant: Tenant,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (id, inv) = path.into_inner();
    let org = same_org(&tenant, id)?;
    tenant.require(Role::Admin)?;
    let (actor, origin) = (
        tenant.user_id().0,
        origin(&req, st.settings.trust_forwarded_for),
    );
    st.db
        .tenant_tx(org, |c| {
            Box::pin(async move {
                if members::revoke_invitation(c, org.0, inv).await? == 0 {
                    return Err(ApiError::not_found("invitation"));
                }
                audit::record(
                    c,
                    org.0,
                    Some(actor),
                    "invitation.revoked",
                    Some(inv.to_string()),
                    json!({}),
                    &origin,
                )
                .await?;
                Ok::<_, ApiError>(())
            })
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Accept {
    pub token: String,
}

/// The invited user (logged in with the invited email) joins the org; a refresh with `org_id`
/// then switches to it.
#[utoipa::path(post, path = "/api/orgs/invitations/accept", request_body = Accept, responses((status = 200), (status = 403), (status = 404), (status = 410)))]
#[post("/api/orgs/invitations/accept")]
pub async fn accept(
    st: web::Data<AppState>,
    req: HttpRequest,
    tenant: tenancy::Aal1Tenant,
    body: Json<Accept>,
) -> Result<HttpResponse, ApiError> {
    let tenant = tenant.0;
    let token = body.into_inner().token;
    let unknown = || ApiError::not_found("invitation");
    let raw = B64.decode(token.trim()).map_err(|_| unknown())?;
    if raw.len() != 48 {
        return Err(unknown());
    }
    let org = OrgId(Uuid::from_slice(&raw[..16]).map_err(|_| unknown())?);
    let hash = token_hash(token.trim());
    let user = tenant.user_id().0;
    let email = tenant
        .claims()
        .email
        .clone()
        .unwrap_or_default()
        .to_lowercase();
    let origin = origin(&req, st.settings.trust_forwarded_for);
    let role = st
        .db
        .tenant_tx(org, |c| {
            Box::pin(async move {
                let inv = members::invitation_by_hash(c, &hash)
                    .await?
                    .ok_or_else(unknown)?;
                if inv.accepted_at.is_some()
                    || inv.revoked_at.is_some()
                    || inv.expires_at <= Utc::now()
                {
                    return Err(ApiError::Conflict {
                        code: "invitation_not_pending",
                        detail: "the invitation was already used, revoked or has expired".into(),
                        extra: None,
                    });
                }
                if inv.email_normalized != email {
                    return Err(ApiError::forbidden(
                        "invitation_email_mismatch",
                        "the invitation is for another email address",
                    ));
                }
                if members::member_role(c, org.0, user).await?.is_some() {
                    return Err(ApiError::Conflict {
                        code: "already_member",
                        detail: "you are already a member".into(),
                        extra: None,
                    });
                }
                let now = Utc::now();
                crate::store::accounts::insert_membership(
                    c,
                    &crate::store::accounts::Membership {
                        org_id: org.0,
                        user_id: user,
                        role: inv.role.clone(),
                        status: "active".into(),
                        created_at: now,
                        updated_at: now,
                    },
                )
                .await?;
                members::mark_accepted(c, inv.id, user).await?;
                audit::record(
                    c,
                    org.0,
                    Some(user),
                    "invitation.accepted",
                    Some(inv.id.to_string()),
                    json!({"role": inv.role}),
                    &origin,
                )
                .await?;
                Ok::<_, ApiError>(inv.role)
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({"org_id": org.0, "role": role})))
}

/// Deletes the org (owner only): it disappears for every member, every session acting in it
/// ends, and `org.deleted.v1` tells every service to purge its data. The audit log stays.
#[utoipa::path(delete, path = "/api/orgs/{id}", responses((status = 204), (status = 403), (status = 404)))]
#[delete("/api/orgs/{id}")]
pub async fn delete_org(
    st: web::Data<AppState>,
    req: HttpRequest,
    tenant: Tenant,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let org = same_org(&tenant, id.into_inner())?;
    tenant.require(Role::Owner)?;
    let (actor, origin) = (
        tenant.user_id().0,
        origin(&req, st.settings.trust_forwarded_for),
    );
    let revoked = st
        .db
        .tenant_tx(org, |c| {
            Box::pin(async move {
                let now = Utc::now();
                crate::store::accounts::soft_delete_org(c, org.0, now).await?;
                let revoked =
                    members::revoke_sessions_in_org(c, org.0, None, "org_deleted").await?;
                audit::record(
                    c,
                    org.0,
                    Some(actor),
                    "org.deleted",
                    Some(org.0.to_string()),
                    json!({}),
                    &origin,
                )
                .await?;
                bus::enqueue(c, org, &OrgDeletedV1 { deleted_at: now }).await?;
                Ok::<_, ApiError>(revoked)
            })
        })
        .await?;
    st.publish_revocations(&revoked).await?;
    Ok(HttpResponse::NoContent().finish())
}
