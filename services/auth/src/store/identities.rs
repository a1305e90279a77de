//! External sign-in identities (Google SSO), a system table: an identity belongs to a user and
//! is found by `(provider, provider_sub)` before any org is known.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tenancy::UserId;
use uuid::Uuid;

use super::schema::auth::identities;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = identities)]
pub struct Identity {
    pub id: Uuid,
    pub user_id: UserId,
    pub provider: String,
    pub provider_sub: String,
    pub email: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
}

pub async fn find_by_sub(
    c: &mut AsyncPgConnection,
    provider: &str,
    sub: &str,
) -> QueryResult<Option<Identity>> {
    identities::table
        .filter(identities::provider.eq(provider))
        .filter(identities::provider_sub.eq(sub))
        .select(Identity::as_select())
        .first(c)
        .await
        .optional()
}

pub async fn list_of_user(c: &mut AsyncPgConnection, user: UserId) -> QueryResult<Vec<Identity>> {
    identities::table
        .filter(identities::user_id.eq(user))
        .order(identities::created_at.asc())
        .select(Identity::as_select())
        .load(c)
        .await
}

pub async fn insert(c: &mut AsyncPgConnection, i: &Identity) -> QueryResult<()> {
    diesel::insert_into(identities::table)
        .values(i)
        .execute(c)
        .await
        .map(|_| ())
}

/// Records a login through the identity, refreshing the email the provider reports.
pub async fn update_login(
    c: &mut AsyncPgConnection,
    id: Uuid,
    email: Option<String>,
) -> QueryResult<()> {
    diesel::update(identities::table.find(id))
        .set((
            identities::last_login_at.eq(Some(Utc::now())),
            identities::email.eq(email),
        ))
        .execute(c)
        .await
        .map(|_| ())
}
