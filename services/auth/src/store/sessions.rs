//! Sessions (a system table: see the migration's comment). Every read is by id plus the
//! verified user, or by the verified user.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tenancy::{OrgId, UserId};
use uuid::Uuid;

use super::schema::auth::sessions;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = sessions)]
pub struct Session {
    pub id: Uuid,
    pub user_id: UserId,
    pub org_id: Option<OrgId>,
    pub aal: String,
    pub amr: serde_json::Value,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    pub refresh_counter: i64,
    pub hmac_key: Vec<u8>,
    pub hmac_key_id: String,
    pub created_at: DateTime<Utc>,
    pub refreshed_at: DateTime<Utc>,
    pub not_after: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoked_reason: Option<String>,
}

pub async fn insert(c: &mut AsyncPgConnection, s: &Session) -> QueryResult<()> {
    diesel::insert_into(sessions::table)
        .values(s)
        .execute(c)
        .await
        .map(|_| ())
}

/// The session row locked for this transaction (refreshes of one session are serialised).
pub async fn lock(c: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<Session>> {
    sessions::table
        .find(id)
        .select(Session::as_select())
        .for_update()
        .first(c)
        .await
        .optional()
}

pub async fn get(
    c: &mut AsyncPgConnection,
    id: Uuid,
    user: UserId,
) -> QueryResult<Option<Session>> {
    sessions::table
        .find(id)
        .filter(sessions::user_id.eq(user))
        .select(Session::as_select())
        .first(c)
        .await
        .optional()
}

pub async fn rotated(
    c: &mut AsyncPgConnection,
    id: Uuid,
    counter: i64,
    org: Option<OrgId>,
) -> QueryResult<()> {
    diesel::update(sessions::table.find(id))
        .set((
            sessions::refresh_counter.eq(counter),
            sessions::refreshed_at.eq(Utc::now()),
            sessions::org_id.eq(org),
        ))
        .execute(c)
        .await
        .map(|_| ())
}

pub async fn live_of_user(c: &mut AsyncPgConnection, user: UserId) -> QueryResult<Vec<Session>> {
    sessions::table
        .filter(sessions::user_id.eq(user))
        .filter(sessions::revoked_at.is_null())
        .filter(
            sessions::not_after
                .is_null()
                .or(sessions::not_after.gt(Utc::now())),
        )
        .order(sessions::created_at.desc())
        .select(Session::as_select())
        .load(c)
        .await
}

/// Revokes the user's live sessions matching `which`; returns the ids revoked.
pub async fn revoke(
    c: &mut AsyncPgConnection,
    user: UserId,
    which: Which,
    reason: &str,
) -> QueryResult<Vec<Uuid>> {
    let base = sessions::table
        .filter(sessions::user_id.eq(user))
        .filter(sessions::revoked_at.is_null())
        .into_boxed();
    let target = match which {
        Which::One(id) => base.filter(sessions::id.eq(id)),
        Which::AllBut(id) => base.filter(sessions::id.ne(id)),
        Which::All => base,
    };
    let ids: Vec<Uuid> = target.select(sessions::id).load(c).await?;
    diesel::update(sessions::table.filter(sessions::id.eq_any(&ids)))
        .set((
            sessions::revoked_at.eq(Utc::now()),
            sessions::revoked_reason.eq(reason),
        ))
        .execute(c)
        .await?;
    Ok(ids)
}

/// The user's sessions matching `which` that were revoked at or after `since` (their marks must
/// still be in the revocation set: a retried revocation writes them again).
pub async fn revoked_of_user_since(
    c: &mut AsyncPgConnection,
    user: UserId,
    which: Which,
    since: DateTime<Utc>,
) -> QueryResult<Vec<Uuid>> {
    let base = sessions::table
        .filter(sessions::user_id.eq(user))
        .filter(sessions::revoked_at.ge(since))
        .into_boxed();
    let target = match which {
        Which::One(id) => base.filter(sessions::id.eq(id)),
        Which::AllBut(id) => base.filter(sessions::id.ne(id)),
        Which::All => base,
    };
    target.select(sessions::id).load(c).await
}

/// Every session revoked at or after `since`, with when (the revocation set's source of truth).
pub async fn revoked_since(
    c: &mut AsyncPgConnection,
    since: DateTime<Utc>,
) -> QueryResult<Vec<(Uuid, DateTime<Utc>)>> {
    sessions::table
        .filter(sessions::revoked_at.ge(since))
        .select((sessions::id, sessions::revoked_at.assume_not_null()))
        .load(c)
        .await
}

#[derive(Debug, Clone, Copy)]
pub enum Which {
    One(Uuid),
    AllBut(Uuid),
    All,
}

/// Raises the session to aal2 and records the method (newest first in `amr`).
pub async fn raise_to_aal2(
    c: &mut AsyncPgConnection,
    id: Uuid,
    method: &str,
) -> QueryResult<Session> {
    let s: Session = sessions::table
        .find(id)
        .select(Session::as_select())
        .for_update()
        .first(c)
        .await?;
    let mut amr = match s.amr {
        serde_json::Value::Array(v) => v,
        _ => Vec::new(),
    };
    amr.retain(|e| e["method"] != method);
    amr.insert(
        0,
        serde_json::json!({"method": method, "timestamp": Utc::now().timestamp()}),
    );
    diesel::update(sessions::table.find(id))
        .set((
            sessions::aal.eq("aal2"),
            sessions::amr.eq(serde_json::Value::Array(amr)),
        ))
        .returning(Session::as_returning())
        .get_result(c)
        .await
}

/// Records a fresh authentication with `method` (newest first in `amr`), keeping the aal: a
/// step-up by password for a user without a factor.
pub async fn record_authentication(
    c: &mut AsyncPgConnection,
    id: Uuid,
    method: &str,
) -> QueryResult<Session> {
    let s: Session = sessions::table
        .find(id)
        .select(Session::as_select())
        .for_update()
        .first(c)
        .await?;
    let mut amr = match s.amr {
        serde_json::Value::Array(v) => v,
        _ => Vec::new(),
    };
    amr.retain(|e| e["method"] != method);
    amr.insert(
        0,
        serde_json::json!({"method": method, "timestamp": Utc::now().timestamp()}),
    );
    diesel::update(sessions::table.find(id))
        .set(sessions::amr.eq(serde_json::Value::Array(amr)))
        .returning(Session::as_returning())
        .get_result(c)
        .await
}
