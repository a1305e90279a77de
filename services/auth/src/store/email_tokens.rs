//! Mailed single-use tokens (password reset, email verification), stored hashed.

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tenancy::UserId;
use uuid::Uuid;

use super::schema::auth::email_tokens;

/// What a mailed token is for (the `purpose` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Recovery,
    VerifyEmail,
    /// GoTrue's reauthentication nonce (`core::reauth`).
    Reauthentication,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Recovery => "recovery",
            Purpose::VerifyEmail => "verify_email",
            Purpose::Reauthentication => "reauthentication",
        }
    }
}

pub async fn insert_email_token(
    c: &mut AsyncPgConnection,
    user: UserId,
    purpose: Purpose,
    hash: &[u8],
    ttl: chrono::Duration,
) -> QueryResult<()> {
    let purpose = purpose.as_str();
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
    purpose: Purpose,
    hash: &[u8],
) -> QueryResult<Option<UserId>> {
    diesel::update(
        email_tokens::table
            .filter(email_tokens::purpose.eq(purpose.as_str()))
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

/// Replaces `user`'s tokens of `purpose` with one new token (for short codes hashed with their
/// user: one row per user, so an old used row cannot collide with the unique hash).
pub async fn replace_user_token(
    c: &mut AsyncPgConnection,
    user: UserId,
    purpose: Purpose,
    hash: &[u8],
    ttl: chrono::Duration,
) -> QueryResult<()> {
    diesel::delete(
        email_tokens::table
            .filter(email_tokens::user_id.eq(user))
            .filter(email_tokens::purpose.eq(purpose.as_str())),
    )
    .execute(c)
    .await?;
    diesel::insert_into(email_tokens::table)
        .values((
            email_tokens::id.eq(Uuid::new_v4()),
            email_tokens::user_id.eq(user),
            email_tokens::purpose.eq(purpose.as_str()),
            email_tokens::token_hash.eq(hash),
            email_tokens::created_at.eq(Utc::now()),
            email_tokens::expires_at.eq(Utc::now() + ttl),
        ))
        .execute(c)
        .await
        .map(|_| ())
}

/// Uses `user`'s live token of `purpose` matching `hash`; on a miss spends the user's live
/// tokens of that purpose (one guess per token). Whether it matched.
pub async fn use_user_token(
    c: &mut AsyncPgConnection,
    user: UserId,
    purpose: Purpose,
    hash: &[u8],
) -> QueryResult<bool> {
    let live = email_tokens::table
        .filter(email_tokens::user_id.eq(user))
        .filter(email_tokens::purpose.eq(purpose.as_str()))
        .filter(email_tokens::used_at.is_null())
        .filter(email_tokens::expires_at.gt(Utc::now()));
    let used = diesel::update(live.filter(email_tokens::token_hash.eq(hash)))
        .set(email_tokens::used_at.eq(Utc::now()))
        .execute(c)
        .await?;
    if used == 0 {
        diesel::update(live)
            .set(email_tokens::used_at.eq(Utc::now()))
            .execute(c)
            .await?;
    }
    Ok(used == 1)
}
