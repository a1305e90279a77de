//! Invitations to an org (inside its tenant transaction); only the token's hash is stored.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tenancy::{OrgId, Role, UserId};
use uuid::Uuid;

use super::schema::auth::invitations;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = invitations)]
pub struct Invitation {
    pub id: Uuid,
    pub org_id: OrgId,
    pub email: String,
    pub email_normalized: String,
    pub role: Role,
    pub token_hash: Vec<u8>,
    pub invited_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub accepted_by: Option<UserId>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl Invitation {
    /// Neither accepted, revoked nor expired.
    pub fn is_pending(&self, now: DateTime<Utc>) -> bool {
        self.accepted_at.is_none() && self.revoked_at.is_none() && self.expires_at > now
    }
}

pub async fn insert_invitation(c: &mut AsyncPgConnection, i: &Invitation) -> QueryResult<()> {
    diesel::insert_into(invitations::table)
        .values(i)
        .execute(c)
        .await
        .map(|_| ())
}

pub async fn invitations_of(c: &mut AsyncPgConnection, org: OrgId) -> QueryResult<Vec<Invitation>> {
    invitations::table
        .filter(invitations::org_id.eq(org))
        .order(invitations::created_at.desc())
        .select(Invitation::as_select())
        .load(c)
        .await
}

pub async fn revoke_invitation(
    c: &mut AsyncPgConnection,
    org: OrgId,
    id: Uuid,
) -> QueryResult<usize> {
    diesel::update(
        invitations::table
            .find(id)
            .filter(invitations::org_id.eq(org))
            .filter(invitations::accepted_at.is_null())
            .filter(invitations::revoked_at.is_null()),
    )
    .set(invitations::revoked_at.eq(Utc::now()))
    .execute(c)
    .await
}

pub async fn invitation_by_hash(
    c: &mut AsyncPgConnection,
    hash: &[u8],
) -> QueryResult<Option<Invitation>> {
    invitations::table
        .filter(invitations::token_hash.eq(hash))
        .select(Invitation::as_select())
        .for_update()
        .first(c)
        .await
        .optional()
}

pub async fn mark_accepted(c: &mut AsyncPgConnection, id: Uuid, user: UserId) -> QueryResult<()> {
    diesel::update(invitations::table.find(id))
        .set((
            invitations::accepted_at.eq(Utc::now()),
            invitations::accepted_by.eq(user),
        ))
        .execute(c)
        .await
        .map(|_| ())
}
