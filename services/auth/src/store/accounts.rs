//! Users, organizations and memberships.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tenancy::{OrgId, Role, UserId};

use super::schema::auth::{memberships, organizations, users};
use super::status::MembershipStatus;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub email_normalized: String,
    pub password_hash: Option<String>,
    pub display_name: Option<String>,
    pub email_verified_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// GoTrue's `user_metadata` (a JSON object; ADR 0018).
    pub user_metadata: serde_json::Value,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = organizations)]
pub struct Org {
    pub id: OrgId,
    pub name: String,
    pub timezone: String,
    pub require_mfa: bool,
    pub session_lifetime_secs: Option<i32>,
    pub inactivity_timeout_secs: Option<i32>,
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
    /// A deletion scheduled at this time, executed at `deletes_at` unless cancelled.
    pub deletion_scheduled_at: Option<DateTime<Utc>>,
    pub deletes_at: Option<DateTime<Utc>>,
    pub deletion_requested_by: Option<UserId>,
    /// Admins may read their members' failed logins (`GET /api/orgs/{id}/security-events`).
    pub share_member_login_failures: bool,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = memberships)]
pub struct Membership {
    pub org_id: OrgId,
    pub user_id: UserId,
    pub role: Role,
    pub status: MembershipStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub async fn user_by_email(
    c: &mut AsyncPgConnection,
    normalized: &str,
) -> QueryResult<Option<User>> {
    users::table
        .filter(users::email_normalized.eq(normalized))
        .select(User::as_select())
        .first(c)
        .await
        .optional()
}

pub async fn user_by_id(c: &mut AsyncPgConnection, id: UserId) -> QueryResult<Option<User>> {
    users::table
        .find(id)
        .select(User::as_select())
        .first(c)
        .await
        .optional()
}

pub async fn insert_user(c: &mut AsyncPgConnection, u: &User) -> QueryResult<()> {
    diesel::insert_into(users::table)
        .values(u)
        .execute(c)
        .await
        .map(|_| ())
}

pub async fn insert_org(c: &mut AsyncPgConnection, o: &Org) -> QueryResult<()> {
    diesel::insert_into(organizations::table)
        .values(o)
        .execute(c)
        .await
        .map(|_| ())
}

pub async fn org_by_id(c: &mut AsyncPgConnection, id: OrgId) -> QueryResult<Option<Org>> {
    organizations::table
        .find(id)
        .filter(organizations::deleted_at.is_null())
        .select(Org::as_select())
        .first(c)
        .await
        .optional()
}

pub async fn insert_membership(c: &mut AsyncPgConnection, m: &Membership) -> QueryResult<()> {
    diesel::insert_into(memberships::table)
        .values(m)
        .execute(c)
        .await
        .map(|_| ())
}

/// The user's active memberships in live orgs, oldest first (the first is the default org).
/// Call inside `user_tx` (or a tenant tx, which narrows it to that org).
pub async fn memberships_of(
    c: &mut AsyncPgConnection,
    user: UserId,
) -> QueryResult<Vec<(Membership, Org)>> {
    memberships::table
        .inner_join(organizations::table.on(organizations::id.eq(memberships::org_id)))
        .filter(memberships::user_id.eq(user))
        .filter(memberships::status.eq(MembershipStatus::Active))
        .filter(organizations::deleted_at.is_null())
        .order(memberships::created_at.asc())
        .select((Membership::as_select(), Org::as_select()))
        .load(c)
        .await
}

pub async fn update_profile(
    c: &mut AsyncPgConnection,
    user: UserId,
    display_name: Option<Option<String>>,
    password_hash: Option<String>,
) -> QueryResult<()> {
    let now = Utc::now();
    if let Some(name) = display_name {
        diesel::update(users::table.find(user))
            .set((users::display_name.eq(name), users::updated_at.eq(now)))
            .execute(c)
            .await?;
    }
    if let Some(hash) = password_hash {
        diesel::update(users::table.find(user))
            .set((users::password_hash.eq(hash), users::updated_at.eq(now)))
            .execute(c)
            .await?;
    }
    Ok(())
}

/// Merges `patch` into the user's `user_metadata` (GoTrue's `PUT /user {data}`): keys set to
/// `null` are removed, the others set.
pub async fn merge_user_metadata(
    c: &mut AsyncPgConnection,
    user: UserId,
    patch: &serde_json::Map<String, serde_json::Value>,
) -> QueryResult<()> {
    let (removed, set): (Vec<_>, Vec<_>) = patch.iter().partition(|(_, v)| v.is_null());
    let removed: Vec<String> = removed.into_iter().map(|(k, _)| k.clone()).collect();
    let set: serde_json::Map<String, serde_json::Value> = set
        .into_iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    diesel::sql_query(
        "UPDATE auth.users SET user_metadata = (user_metadata || $1) - $2::text[], updated_at = now() WHERE id = $3",
    )
    .bind::<diesel::sql_types::Jsonb, _>(serde_json::Value::Object(set))
    .bind::<diesel::sql_types::Array<diesel::sql_types::Text>, _>(removed)
    .bind::<diesel::sql_types::Uuid, _>(user.0)
    .execute(c)
    .await
    .map(|_| ())
}

/// Replaces the password hash only if it is still `old` (a password changed meanwhile wins).
pub async fn replace_password_hash(
    c: &mut AsyncPgConnection,
    user: UserId,
    old: Option<&str>,
    new: &str,
) -> QueryResult<usize> {
    let Some(old) = old else {
        return Ok(0);
    };
    diesel::update(users::table.find(user).filter(users::password_hash.eq(old)))
        .set(users::password_hash.eq(new))
        .execute(c)
        .await
}

/// Changes an org's security policy (`None` leaves a field as it is).
pub async fn update_policy(
    c: &mut AsyncPgConnection,
    org: OrgId,
    require_mfa: Option<bool>,
    session_lifetime_secs: Option<Option<i32>>,
    inactivity_timeout_secs: Option<Option<i32>>,
    share_member_login_failures: Option<bool>,
) -> QueryResult<()> {
    if let Some(v) = share_member_login_failures {
        diesel::update(organizations::table.find(org))
            .set(organizations::share_member_login_failures.eq(v))
            .execute(c)
            .await?;
    }
    if let Some(v) = require_mfa {
        diesel::update(organizations::table.find(org))
            .set(organizations::require_mfa.eq(v))
            .execute(c)
            .await?;
    }
    if let Some(v) = session_lifetime_secs {
        diesel::update(organizations::table.find(org))
            .set(organizations::session_lifetime_secs.eq(v))
            .execute(c)
            .await?;
    }
    if let Some(v) = inactivity_timeout_secs {
        diesel::update(organizations::table.find(org))
            .set(organizations::inactivity_timeout_secs.eq(v))
            .execute(c)
            .await?;
    }
    Ok(())
}

pub async fn soft_delete_org(
    c: &mut AsyncPgConnection,
    org: OrgId,
    at: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::update(
        organizations::table
            .find(org)
            .filter(organizations::deleted_at.is_null()),
    )
    .set(organizations::deleted_at.eq(at))
    .execute(c)
    .await
    .map(|_| ())
}

/// The live org, its row locked for this transaction (scheduling, cancelling and executing a
/// deletion serialise on it).
pub async fn lock_org(c: &mut AsyncPgConnection, id: OrgId) -> QueryResult<Option<Org>> {
    organizations::table
        .find(id)
        .filter(organizations::deleted_at.is_null())
        .select(Org::as_select())
        .for_update()
        .first(c)
        .await
        .optional()
}

/// Schedules the org's deletion for `due`.
pub async fn schedule_deletion(
    c: &mut AsyncPgConnection,
    org: OrgId,
    at: DateTime<Utc>,
    due: DateTime<Utc>,
    by: UserId,
) -> QueryResult<usize> {
    diesel::update(
        organizations::table
            .find(org)
            .filter(organizations::deleted_at.is_null()),
    )
    .set((
        organizations::deletion_scheduled_at.eq(Some(at)),
        organizations::deletes_at.eq(Some(due)),
        organizations::deletion_requested_by.eq(Some(by)),
    ))
    .execute(c)
    .await
}

/// Cancels the org's scheduled deletion; 0 when none was scheduled.
pub async fn cancel_deletion(c: &mut AsyncPgConnection, org: OrgId) -> QueryResult<usize> {
    diesel::update(
        organizations::table
            .find(org)
            .filter(organizations::deleted_at.is_null())
            .filter(organizations::deletes_at.is_not_null()),
    )
    .set((
        organizations::deletion_scheduled_at.eq(None::<DateTime<Utc>>),
        organizations::deletes_at.eq(None::<DateTime<Utc>>),
        organizations::deletion_requested_by.eq(None::<UserId>),
    ))
    .execute(c)
    .await
}

/// Live orgs with a deletion scheduled, soonest first (the operator's list).
pub async fn scheduled_deletions(c: &mut AsyncPgConnection) -> QueryResult<Vec<Org>> {
    organizations::table
        .filter(organizations::deleted_at.is_null())
        .filter(organizations::deletes_at.is_not_null())
        .order(organizations::deletes_at.asc())
        .select(Org::as_select())
        .load(c)
        .await
}

/// Makes a scheduled deletion due now (an operator forcing it); 0 when none is scheduled.
pub async fn make_deletion_due(
    c: &mut AsyncPgConnection,
    org: OrgId,
    now: DateTime<Utc>,
) -> QueryResult<usize> {
    diesel::update(
        organizations::table
            .find(org)
            .filter(organizations::deleted_at.is_null())
            .filter(organizations::deletes_at.is_not_null()),
    )
    .set(organizations::deletes_at.eq(Some(now)))
    .execute(c)
    .await
}

/// One org whose deletion is due, locked for this transaction; orgs another worker holds are
/// skipped (`FOR UPDATE SKIP LOCKED`), so concurrent workers never execute one deletion twice.
pub async fn claim_due_deletion(
    c: &mut AsyncPgConnection,
    now: DateTime<Utc>,
) -> QueryResult<Option<Org>> {
    organizations::table
        .filter(organizations::deleted_at.is_null())
        .filter(organizations::deletes_at.le(now))
        .order(organizations::deletes_at.asc())
        .select(Org::as_select())
        .for_update()
        .skip_locked()
        .first(c)
        .await
        .optional()
}

pub async fn mark_email_verified(c: &mut AsyncPgConnection, user: UserId) -> QueryResult<()> {
    diesel::update(
        users::table
            .find(user)
            .filter(users::email_verified_at.is_null()),
    )
    .set(users::email_verified_at.eq(Utc::now()))
    .execute(c)
    .await
    .map(|_| ())
}
