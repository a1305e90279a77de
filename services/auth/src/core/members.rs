//! Members and invitations of an org: the member list, role changes and removals (an org always
//! keeps an owner; only owners touch the owner role), inviting by email with a role up to the
//! inviter's, revoking and accepting invitations.

use chrono::Utc;
use serde_json::json;
use tenancy::{OrgId, Role, UserId};
use uuid::Uuid;

use crate::core::infra::{Infra, infra_from};
use crate::core::revocations;
use crate::domain::{email, secret};
use crate::state::AppState;
use crate::store::accounts::{self, Membership};
use crate::store::audit::{self, Origin};
use crate::store::invitations::{self, Invitation};
use crate::store::mail_outbox;
use crate::store::members::{self, Member};
use crate::store::sessions::Which;
use crate::store::status::MembershipStatus;

#[derive(Debug, thiserror::Error)]
pub enum MemberError {
    #[error("member not found")]
    MemberNotFound,
    #[error("invitation not found")]
    InvitationNotFound,
    /// The owner role is granted, taken or removed only by an owner.
    #[error("{0}")]
    OwnerOnly(&'static str),
    #[error("an organization always keeps an owner")]
    LastOwner,
    #[error("you can only invite with a role up to your own")]
    AboveOwnRole,
    #[error("{0}")]
    InvalidEmail(&'static str),
    #[error("the invitation was already used, revoked or has expired")]
    InvitationNotPending,
    #[error("the invitation is for another email address")]
    InvitationEmailMismatch,
    #[error("you are already a member")]
    AlreadyMember,
    #[error(transparent)]
    Infra(#[from] Infra),
}
infra_from!(MemberError);

/// Who acts, and with which role in the org.
#[derive(Debug, Clone, Copy)]
pub struct Actor {
    pub user: UserId,
    pub role: Role,
}

pub async fn list(st: &AppState, org: OrgId) -> Result<Vec<Member>, Infra> {
    st.db
        .tenant_tx(org, |c| {
            Box::pin(async move { Ok::<_, Infra>(members::members(c, org).await?) })
        })
        .await
}

/// Gives `member` the role `to`; every session of the member that carries the org ends (tokens
/// carry the role), including one that has since switched to another org.
pub async fn change_role(
    st: &AppState,
    org: OrgId,
    actor: Actor,
    member: UserId,
    to: Role,
    origin: &Origin,
) -> Result<(), MemberError> {
    let origin = origin.clone();
    let left_since = st.mark_window_start();
    let revoked = st
        .db
        .tenant_tx(org, |c| {
            Box::pin(async move {
                let current = members::member_role(c, org, member)
                    .await?
                    .ok_or(MemberError::MemberNotFound)?;
                if (current == Role::Owner || to == Role::Owner) && actor.role != Role::Owner {
                    return Err(MemberError::OwnerOnly(
                        "only an owner can grant or take the owner role",
                    ));
                }
                if current == Role::Owner
                    && to != Role::Owner
                    && members::owner_count(c, org).await? <= 1
                {
                    return Err(MemberError::LastOwner);
                }
                members::set_role(c, org, member, to).await?;
                // Tokens carry the role: the member's sessions in this org get new tokens by logging in again.
                let revoked = members::revoke_sessions_in_org(
                    c,
                    org,
                    Some(member),
                    left_since,
                    "role_changed",
                )
                .await?;
                audit::record(
                    c,
                    org,
                    Some(actor.user),
                    "member.role_changed",
                    Some(member.to_string()),
                    json!({"from": current, "to": to}),
                    &origin,
                )
                .await?;
                Ok::<_, MemberError>(revoked)
            })
        })
        .await?;
    st.publish_revocations(&revoked).await?;
    // A retry after the database part committed revokes nothing new: write the marks again.
    revocations::republish_of_user(st, member, Which::All).await?;
    Ok(())
}

/// Removes `member` from the org (an admin, or the member leaving); every session of theirs
/// that carries the org ends, including one that has since switched to another org.
pub async fn remove(
    st: &AppState,
    org: OrgId,
    actor: Actor,
    member: UserId,
    origin: &Origin,
) -> Result<(), MemberError> {
    let origin = origin.clone();
    let left_since = st.mark_window_start();
    let result = st
        .db
        .tenant_tx(org, |c| {
            Box::pin(async move {
                let current = members::member_role(c, org, member)
                    .await?
                    .ok_or(MemberError::MemberNotFound)?;
                if current == Role::Owner {
                    if actor.role != Role::Owner {
                        return Err(MemberError::OwnerOnly("only an owner can remove an owner"));
                    }
                    if members::owner_count(c, org).await? <= 1 {
                        return Err(MemberError::LastOwner);
                    }
                }
                members::remove_member(c, org, member).await?;
                let revoked = members::revoke_sessions_in_org(
                    c,
                    org,
                    Some(member),
                    left_since,
                    "member_removed",
                )
                .await?;
                audit::record(
                    c,
                    org,
                    Some(actor.user),
                    "member.removed",
                    Some(member.to_string()),
                    json!({"role": current}),
                    &origin,
                )
                .await?;
                Ok::<_, MemberError>(revoked)
            })
        })
        .await;
    match result {
        Ok(revoked) => st.publish_revocations(&revoked).await?,
        // Perhaps the retry of a removal whose database part committed while Redis failed: the
        // member's recently revoked sessions get their marks again (idempotent).
        Err(MemberError::MemberNotFound) => {
            revocations::republish_of_user(st, member, Which::All).await?;
            return Err(MemberError::MemberNotFound);
        }
        Err(e) => return Err(e),
    }
    Ok(())
}

/// Invites `email_raw` with `role` (no higher than the inviter's); the invitation mail is
/// queued. Returns the invitation and its token (shown once; only its hash is stored).
pub async fn invite(
    st: &AppState,
    org: OrgId,
    actor: Actor,
    email_raw: &str,
    role: Role,
    origin: &Origin,
) -> Result<(Invitation, String), MemberError> {
    if !actor.role.at_least(role) {
        return Err(MemberError::AboveOwnRole);
    }
    let (mail, normalized) = email::parse(email_raw).map_err(MemberError::InvalidEmail)?;
    let token = secret::new_invitation_token(org);
    let now = Utc::now();
    let inv = Invitation {
        id: Uuid::new_v4(),
        org_id: org,
        email: mail,
        email_normalized: normalized,
        role,
        token_hash: secret::token_hash(&token),
        invited_by: Some(actor.user),
        created_at: now,
        expires_at: now
            + chrono::Duration::from_std(st.settings.invitation_ttl)
                .unwrap_or(chrono::Duration::days(7)),
        accepted_at: None,
        accepted_by: None,
        revoked_at: None,
    };
    let link = format!("{}/accept-invitation#token={token}", st.settings.public_url);
    let (inv2, origin) = (inv.clone(), origin.clone());
    st.db
        .tenant_tx(org, |c| Box::pin(async move {
            invitations::insert_invitation(c, &inv2).await?;
            mail_outbox::queue_mail(c, &inv2.email, "invitation", "You are invited to Voxanne", &format!("You have been invited to join an organization on Voxanne as {}.\n\nAccept: {link}\n\nThe link expires at {}.", inv2.role, inv2.expires_at)).await?;
            audit::record(c, org, Some(actor.user), "invitation.sent", Some(inv2.id.to_string()), json!({"role": inv2.role}), &origin).await?;
            Ok::<_, Infra>(())
        }))
        .await?;
    Ok((inv, token))
}

pub async fn list_invitations(st: &AppState, org: OrgId) -> Result<Vec<Invitation>, Infra> {
    st.db
        .tenant_tx(org, |c| {
            Box::pin(async move { Ok::<_, Infra>(invitations::invitations_of(c, org).await?) })
        })
        .await
}

/// Revokes a pending invitation.
pub async fn revoke_invitation(
    st: &AppState,
    org: OrgId,
    actor: UserId,
    id: Uuid,
    origin: &Origin,
) -> Result<(), MemberError> {
    let origin = origin.clone();
    st.db
        .tenant_tx(org, |c| {
            Box::pin(async move {
                if invitations::revoke_invitation(c, org, id).await? == 0 {
                    return Err(MemberError::InvitationNotFound);
                }
                audit::record(
                    c,
                    org,
                    Some(actor),
                    "invitation.revoked",
                    Some(id.to_string()),
                    json!({}),
                    &origin,
                )
                .await?;
                Ok::<_, MemberError>(())
            })
        })
        .await
}

/// The invited user (logged in with the invited email) joins the org of `token`; returns the
/// org and the role.
pub async fn accept(
    st: &AppState,
    user: UserId,
    user_email: &str,
    token: &str,
    origin: &Origin,
) -> Result<(OrgId, Role), MemberError> {
    let token = token.trim();
    let org = secret::invitation_org(token).ok_or(MemberError::InvitationNotFound)?;
    let hash = secret::token_hash(token);
    let email = user_email.to_lowercase();
    let origin = origin.clone();
    let role = st
        .db
        .tenant_tx(org, |c| {
            Box::pin(async move {
                let inv = invitations::invitation_by_hash(c, &hash)
                    .await?
                    .ok_or(MemberError::InvitationNotFound)?;
                let now = Utc::now();
                if !inv.is_pending(now) {
                    return Err(MemberError::InvitationNotPending);
                }
                if inv.email_normalized != email {
                    return Err(MemberError::InvitationEmailMismatch);
                }
                if members::member_role(c, org, user).await?.is_some() {
                    return Err(MemberError::AlreadyMember);
                }
                accounts::insert_membership(
                    c,
                    &Membership {
                        org_id: org,
                        user_id: user,
                        role: inv.role,
                        status: MembershipStatus::Active,
                        created_at: now,
                        updated_at: now,
                    },
                )
                .await?;
                invitations::mark_accepted(c, inv.id, user).await?;
                audit::record(
                    c,
                    org,
                    Some(user),
                    "invitation.accepted",
                    Some(inv.id.to_string()),
                    json!({"role": inv.role}),
                    &origin,
                )
                .await?;
                Ok::<_, MemberError>(inv.role)
            })
        })
        .await?;
    Ok((org, role))
}
