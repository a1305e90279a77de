//! Members and invitations of an org (inside its tenant transaction), mailed tokens and the
//! mail outbox.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::schema::{email_tokens, invitations, mail_outbox, memberships, sessions, users};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = invitations)]
pub struct Invitation {
    pub id: Uuid,
    pub org_id: Uuid,
    pub email: String,
    pub email_normalized: String,
    pub role: String,
    pub token_hash: Vec<u8>,
    pub invited_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub accepted_by: Option<Uuid>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Members of the transaction's org with their emails.
pub async fn members(
    c: &mut AsyncPgConnection,
    org: Uuid,
) -> QueryResult<Vec<(Uuid, String, Option<String>, String, String, DateTime<Utc>)>> {
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

pub async fn member_role(
    c: &mut AsyncPgConnection,
    org: Uuid,
    user: Uuid,
) -> QueryResult<Option<String>> {
    memberships::table
        .find((org, user))
        .select(memberships::role)
        .for_update()
        .first(c)
        .await
        .optional()
}

pub async fn owner_count(c: &mut AsyncPgConnection, org: Uuid) -> QueryResult<i64> {
    memberships::table
        .filter(memberships::org_id.eq(org))
        .filter(memberships::role.eq("owner"))
        .filter(memberships::status.eq("active"))
        .count()
        .get_result(c)
        .await
}

pub async fn set_role(
    c: &mut AsyncPgConnection,
    org: Uuid,
    user: Uuid,
    role: &str,
) -> QueryResult<usize> {
    diesel::update(memberships::table.find((org, user)))
        .set((
            memberships::role.eq(role),
            memberships::updated_at.eq(Utc::now()),
        ))
        .execute(c)
        .await
}

pub async fn remove_member(c: &mut AsyncPgConnection, org: Uuid, user: Uuid) -> QueryResult<usize> {
    diesel::delete(memberships::table.find((org, user)))
        .execute(c)
        .await
}

/// Ends the user's sessions that act in `org` (after removal or a role change).
pub async fn revoke_sessions_in_org(
    c: &mut AsyncPgConnection,
    org: Uuid,
    user: Option<Uuid>,
    reason: &str,
) -> QueryResult<Vec<Uuid>> {
    let mut q = sessions::table
        .filter(sessions::org_id.eq(org))
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

pub async fn insert_invitation(c: &mut AsyncPgConnection, i: &Invitation) -> QueryResult<()> {
    diesel::insert_into(invitations::table)
        .values(i)
        .execute(c)
        .await
        .map(|_| ())
}

pub async fn invitations_of(c: &mut AsyncPgConnection, org: Uuid) -> QueryResult<Vec<Invitation>> {
    invitations::table
        .filter(invitations::org_id.eq(org))
        .order(invitations::created_at.desc())
        .select(Invitation::as_select())
        .load(c)
        .await
}

pub async fn revoke_invitation(
    c: &mut AsyncPgConnection,
    org: Uuid,
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

pub async fn mark_accepted(c: &mut AsyncPgConnection, id: Uuid, user: Uuid) -> QueryResult<()> {
    diesel::update(invitations::table.find(id))
        .set((
            invitations::accepted_at.eq(Utc::now()),
            invitations::accepted_by.eq(user),
        ))
        .execute(c)
        .await
        .map(|_| ())
}

pub async fn insert_email_token(
    c: &mut AsyncPgConnection,
    user: Uuid,
    purpose: &str,
    hash: &[u8],
    ttl: chrono::Duration,
) -> QueryResult<()> {
    // A new token of a purpose replaces the older unused ones.
    diesel::update(
        email_tokens::table
            .filter(email_tokens::user_id.eq(user))
            .filter(email_tokens::purpose.eq(purpose))
            .filter(email_tokens::used_at.is_null()),
    )
    .set(email_tokens::used_at.eq(Utc::now()))
    .execute(c)
    .await?;
    diesel::insert_into(email_tokens::table)
        .values((
            email_tokens::id.eq(Uuid::new_v4()),
            email_tokens::user_id.eq(user),
            email_tokens::purpose.eq(purpose),
            email_tokens::token_hash.eq(hash),
            email_tokens::created_at.eq(Utc::now()),
            email_tokens::expires_at.eq(Utc::now() + ttl),
        ))
        .execute(c)
        .await
        .map(|_| ())
}

/// Uses a live token of `purpose`; returns its user.
pub async fn use_email_token(
    c: &mut AsyncPgConnection,
    purpose: &str,
    hash: &[u8],
) -> QueryResult<Option<Uuid>> {
    diesel::update(
        email_tokens::table
            .filter(email_tokens::purpose.eq(purpose))
            .filter(email_tokens::token_hash.eq(hash))
            .filter(email_tokens::used_at.is_null())
            .filter(email_tokens::expires_at.gt(Utc::now())),
    )
    .set(email_tokens::used_at.eq(Utc::now()))
    .returning(email_tokens::user_id)
    .get_result(c)
    .await
    .optional()
}

pub async fn queue_mail(
    c: &mut AsyncPgConnection,
    to: &str,
    kind: &str,
    subject: &str,
    body: &str,
) -> QueryResult<()> {
    diesel::insert_into(mail_outbox::table)
        .values((
            mail_outbox::id.eq(Uuid::new_v4()),
            mail_outbox::to_email.eq(to),
            mail_outbox::kind.eq(kind),
            mail_outbox::subject.eq(subject),
            mail_outbox::body.eq(body),
            mail_outbox::created_at.eq(Utc::now()),
        ))
        .execute(c)
        .await
        .map(|_| ())
}
