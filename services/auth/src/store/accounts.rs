//! Users, organizations and memberships.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::schema::{memberships, organizations, users};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub email_normalized: String,
    pub password_hash: Option<String>,
    pub display_name: Option<String>,
    pub email_verified_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = organizations)]
pub struct Org {
    pub id: Uuid,
    pub name: String,
    pub timezone: String,
    pub require_mfa: bool,
    pub session_lifetime_secs: Option<i32>,
    pub inactivity_timeout_secs: Option<i32>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = memberships)]
pub struct Membership {
    pub org_id: Uuid,
    pub user_id: Uuid,
    pub role: String,
    pub status: String,
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

pub async fn user_by_id(c: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<User>> {
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

pub async fn org_by_id(c: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<Org>> {
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
    user: Uuid,
) -> QueryResult<Vec<(Membership, Org)>> {
    memberships::table
        .inner_join(organizations::table.on(organizations::id.eq(memberships::org_id)))
        .filter(memberships::user_id.eq(user))
        .filter(memberships::status.eq("active"))
        .filter(organizations::deleted_at.is_null())
        .order(memberships::created_at.asc())
        .select((Membership::as_select(), Org::as_select()))
        .load(c)
        .await
}

pub async fn update_profile(
    c: &mut AsyncPgConnection,
    user: Uuid,
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

/// Changes an org's security policy (`None` leaves a field as it is).
pub async fn update_policy(
    c: &mut AsyncPgConnection,
    org: Uuid,
    require_mfa: Option<bool>,
    session_lifetime_secs: Option<Option<i32>>,
    inactivity_timeout_secs: Option<Option<i32>>,
) -> QueryResult<()> {
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
    org: Uuid,
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

pub async fn mark_email_verified(c: &mut AsyncPgConnection, user: Uuid) -> QueryResult<()> {
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
