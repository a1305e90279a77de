//! Members of an org (inside its tenant transaction): roles, the owner count, removal, and
//! ending the sessions that carry the org (acting in it, or switched away with live tokens).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tenancy::{OrgId, Role, UserId};
use uuid::Uuid;

use super::schema::auth::{memberships, session_orgs, sessions, users};
use super::status::MembershipStatus;

/// One member as the member list shows it.
#[derive(Debug, Clone, Queryable)]
pub struct Member {
    pub user_id: UserId,
    pub email: String,
    pub display_name: Option<String>,
    pub role: Role,
    pub status: MembershipStatus,
    pub since: DateTime<Utc>,
}

/// Members of the transaction's org with their emails.
pub async fn members(c: &mut AsyncPgConnection, org: OrgId) -> QueryResult<Vec<Member>> {
    memberships::table
        .inner_join(users::table.on(users::id.eq(memberships::user_id)))
        .filter(memberships::org_id.eq(org))
        .order(memberships::created_at.asc())
        .select((
            users::id,
            users::email,
            users::display_name,
            memberships::role,
            memberships::status,
            memberships::created_at,
        ))
        .load(c)
        .await
}

/// The member's role, the membership row locked for this transaction.
pub async fn member_role(
    c: &mut AsyncPgConnection,
    org: OrgId,
    user: UserId,
) -> QueryResult<Option<Role>> {
    memberships::table
        .find((org, user))
        .select(memberships::role)
        .for_update()
        .first(c)
        .await
        .optional()
}

pub async fn owner_count(c: &mut AsyncPgConnection, org: OrgId) -> QueryResult<i64> {
    memberships::table
        .filter(memberships::org_id.eq(org))
        .filter(memberships::role.eq(Role::Owner))
        .filter(memberships::status.eq(MembershipStatus::Active))
        .count()
        .get_result(c)
        .await
}

pub async fn set_role(
    c: &mut AsyncPgConnection,
    org: OrgId,
    user: UserId,
    role: Role,
) -> QueryResult<usize> {
    diesel::update(memberships::table.find((org, user)))
        .set((
            memberships::role.eq(role),
            memberships::updated_at.eq(Utc::now()),
        ))
        .execute(c)
        .await
}

pub async fn remove_member(
    c: &mut AsyncPgConnection,
    org: OrgId,
    user: UserId,
) -> QueryResult<usize> {
    diesel::delete(memberships::table.find((org, user)))
        .execute(c)
        .await
}

/// Ends the user's sessions that carry `org` (after removal or a role change); every such
/// session when `user` is `None`. A session carries `org` when it acts in it now, or when it
/// switched away from it at or after `left_since` (its tokens for `org` have not expired yet).
pub async fn revoke_sessions_in_org(
    c: &mut AsyncPgConnection,
    org: OrgId,
    user: Option<UserId>,
    left_since: DateTime<Utc>,
    reason: &str,
) -> QueryResult<Vec<Uuid>> {
    let switched_away = session_orgs::table
        .filter(session_orgs::org_id.eq(org))
        .filter(session_orgs::left_at.ge(left_since))
        .select(session_orgs::session_id);
    let mut q = sessions::table
        .filter(
            sessions::org_id
                .eq(org)
                .or(sessions::id.eq_any(switched_away)),
        )
        .filter(sessions::revoked_at.is_null())
        .select(sessions::id)
        .into_boxed();
    if let Some(u) = user {
        q = q.filter(sessions::user_id.eq(u));
    }
    let ids: Vec<Uuid> = q.load(c).await?;
    diesel::update(sessions::table.filter(sessions::id.eq_any(&ids)))
        .set((
            sessions::revoked_at.eq(Utc::now()),
            sessions::revoked_reason.eq(reason),
        ))
        .execute(c)
        .await?;
    Ok(ids)
}
