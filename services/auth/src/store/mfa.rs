//! TOTP factors, challenges and recovery codes (all per user).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tenancy::UserId;
use uuid::Uuid;

use super::schema::auth::{mfa_challenges, mfa_factors, recovery_codes};
use super::status::FactorStatus;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = mfa_factors)]
pub struct Factor {
    pub id: Uuid,
    pub user_id: UserId,
    pub friendly_name: Option<String>,
    pub secret: Vec<u8>,
    pub secret_key_id: String,
    pub status: FactorStatus,
    pub last_used_step: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub verified_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = mfa_challenges)]
pub struct Challenge {
    pub id: Uuid,
    pub factor_id: Uuid,
    pub session_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub verified_at: Option<DateTime<Utc>>,
}

pub async fn factors_of(c: &mut AsyncPgConnection, user: UserId) -> QueryResult<Vec<Factor>> {
    mfa_factors::table
        .filter(mfa_factors::user_id.eq(user))
        .order(mfa_factors::created_at.asc())
        .select(Factor::as_select())
        .load(c)
        .await
}

pub async fn factor(
    c: &mut AsyncPgConnection,
    user: UserId,
    id: Uuid,
) -> QueryResult<Option<Factor>> {
    mfa_factors::table
        .find(id)
        .filter(mfa_factors::user_id.eq(user))
        .select(Factor::as_select())
        .for_update()
        .first(c)
        .await
        .optional()
}

pub async fn insert_factor(c: &mut AsyncPgConnection, f: &Factor) -> QueryResult<()> {
    diesel::insert_into(mfa_factors::table)
        .values(f)
        .execute(c)
        .await
        .map(|_| ())
}

pub async fn delete_factor(
    c: &mut AsyncPgConnection,
    user: UserId,
    id: Uuid,
) -> QueryResult<usize> {
    diesel::delete(
        mfa_factors::table
            .find(id)
            .filter(mfa_factors::user_id.eq(user)),
    )
    .execute(c)
    .await
}

/// Records `step` as used; 0 rows means this step (or a later one) was already used: a replay.
pub async fn advance_step(c: &mut AsyncPgConnection, id: Uuid, step: i64) -> QueryResult<usize> {
    diesel::update(
        mfa_factors::table.find(id).filter(
            mfa_factors::last_used_step
                .is_null()
                .or(mfa_factors::last_used_step.lt(step)),
        ),
    )
    .set(mfa_factors::last_used_step.eq(step))
    .execute(c)
    .await
}

pub async fn mark_verified(c: &mut AsyncPgConnection, id: Uuid) -> QueryResult<()> {
    diesel::update(mfa_factors::table.find(id))
        .set((
            mfa_factors::status.eq(FactorStatus::Verified),
            mfa_factors::verified_at.eq(Utc::now()),
        ))
        .execute(c)
        .await
        .map(|_| ())
}

pub async fn insert_challenge(c: &mut AsyncPgConnection, ch: &Challenge) -> QueryResult<()> {
    diesel::insert_into(mfa_challenges::table)
        .values(ch)
        .execute(c)
        .await
        .map(|_| ())
}

/// Marks an open challenge of `factor` in `session` used; false when there is none to use.
pub async fn consume_challenge(
    c: &mut AsyncPgConnection,
    id: Uuid,
    factor: Uuid,
    session: Uuid,
) -> QueryResult<bool> {
    let n = diesel::update(
        mfa_challenges::table
            .find(id)
            .filter(mfa_challenges::factor_id.eq(factor))
            .filter(mfa_challenges::session_id.eq(session))
            .filter(mfa_challenges::verified_at.is_null())
            .filter(mfa_challenges::expires_at.gt(Utc::now())),
    )
    .set(mfa_challenges::verified_at.eq(Utc::now()))
    .execute(c)
    .await?;
    Ok(n == 1)
}

/// Replaces the user's recovery codes with `hashes`.
pub async fn replace_recovery_codes(
    c: &mut AsyncPgConnection,
    user: UserId,
    hashes: &[Vec<u8>],
) -> QueryResult<()> {
    diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user)))
        .execute(c)
        .await?;
    let now = Utc::now();
    let rows: Vec<_> = hashes
        .iter()
        .map(|h| {
            (
                recovery_codes::id.eq(Uuid::new_v4()),
                recovery_codes::user_id.eq(user),
                recovery_codes::code_hash.eq(h.clone()),
                recovery_codes::created_at.eq(now),
            )
        })
        .collect();
    diesel::insert_into(recovery_codes::table)
        .values(rows)
        .execute(c)
        .await
        .map(|_| ())
}

pub async fn delete_recovery_codes(c: &mut AsyncPgConnection, user: UserId) -> QueryResult<()> {
    diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user)))
        .execute(c)
        .await
        .map(|_| ())
}

/// Uses one unused code with this hash; false when there is none.
pub async fn use_recovery_code(
    c: &mut AsyncPgConnection,
    user: UserId,
    hash: &[u8],
) -> QueryResult<bool> {
    let n = diesel::update(
        recovery_codes::table
            .filter(recovery_codes::user_id.eq(user))
            .filter(recovery_codes::code_hash.eq(hash))
            .filter(recovery_codes::used_at.is_null()),
    )
    .set(recovery_codes::used_at.eq(Utc::now()))
    .execute(c)
    .await?;
    Ok(n >= 1)
}

pub async fn unused_recovery_codes(c: &mut AsyncPgConnection, user: UserId) -> QueryResult<i64> {
    recovery_codes::table
        .filter(recovery_codes::user_id.eq(user))
        .filter(recovery_codes::used_at.is_null())
        .count()
        .get_result(c)
        .await
}

/// Whether the user has a verified factor.
pub async fn has_verified_factor(c: &mut AsyncPgConnection, user: UserId) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        mfa_factors::table
            .filter(mfa_factors::user_id.eq(user))
            .filter(mfa_factors::status.eq(FactorStatus::Verified)),
    ))
    .get_result(c)
    .await
}

/// One of the user's unused recovery codes as stored (all of a user's codes share a salt).
pub async fn any_unused_recovery_code(
    c: &mut AsyncPgConnection,
    user: UserId,
) -> QueryResult<Option<Vec<u8>>> {
    recovery_codes::table
        .filter(recovery_codes::user_id.eq(user))
        .filter(recovery_codes::used_at.is_null())
        .select(recovery_codes::code_hash)
        .first(c)
        .await
        .optional()
}
